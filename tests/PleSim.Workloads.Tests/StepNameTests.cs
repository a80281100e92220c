using System.Reflection;
using PleSim.Guest;

namespace PleSim.Workloads.Tests;

/// <summary>
/// Workload programs name their callback steps: every program that acts in a <see cref="GuestAction.Call"/>
/// derives from <see cref="ScriptedProgram{TStep}"/> with an enum of its steps, instead of
/// switching on integer codes.
/// </summary>
public class StepNameTests
{
    private static readonly Type[] Programs = typeof(ScriptedProgram).Assembly.GetTypes()
        .Where(t => !t.IsAbstract && typeof(ScriptedProgram).IsAssignableFrom(t))
        .OrderBy(t => t.FullName, StringComparer.Ordinal)
        .ToArray();

    private static bool NamesItsSteps(Type t)
    {
        for (var b = t.BaseType; b is not null; b = b.BaseType)
        {
            if (b.IsGenericType && b.GetGenericTypeDefinition() == typeof(ScriptedProgram<>))
                return true;
        }
        return false;
    }

    [Fact]
    public void Every_program_with_callbacks_names_its_steps_with_an_enum()
    {
        Assert.NotEmpty(Programs);
        var unnamed = Programs
            .Where(t => t.GetMethod(nameof(ScriptedProgram.Run), [typeof(GuestThread), typeof(int)])!.DeclaringType != typeof(ScriptedProgram))
            .Where(t => !NamesItsSteps(t))
            .Select(t => t.Name)
            .ToList();
        Assert.True(unnamed.Count == 0, $"programs that dispatch on integer codes: {string.Join(", ", unnamed)}");
        Assert.Contains(Programs, t => t.Name == "Publisher" && NamesItsSteps(t));
        Assert.Contains(Programs, t => t.Name == nameof(LockLoop) && NamesItsSteps(t));
    }

    [Fact]
    public void A_step_travels_as_its_enum_value_and_comes_back_named()
    {
        var program = new Recorder();
        var action = program.Plan(Step.Second);
        Assert.Equal(ActionKind.Call, action.Kind);
        Assert.Equal((int)Step.Second, action.Code);
        action.Callback!.Run(null!, action.Code);
        Assert.Equal(Step.Second, program.Ran);
    }

    [Fact]
    public void A_step_enum_that_is_not_int_is_refused()
    {
        var e = Assert.Throws<InvalidOperationException>(() => new LongSteps());
        Assert.Contains("int enum", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(0xFFFF)]
    public void A_step_carries_its_argument_and_both_come_back(int arg)
    {
        var program = new ArgRecorder();
        var action = program.Plan(Step.Second, arg);
        Assert.Equal(ActionKind.Call, action.Kind);
        action.Callback!.Run(null!, action.Code);
        Assert.Equal(Step.Second, program.Ran);
        Assert.Equal(arg, program.Arg);
    }

    [Fact]
    public void A_step_without_argument_runs_with_argument_zero()
    {
        var program = new ArgRecorder();
        var action = program.Plan(Step.Second);
        Assert.Equal((int)Step.Second, action.Code);
        action.Callback!.Run(null!, action.Code);
        Assert.Equal(Step.Second, program.Ran);
        Assert.Equal(0, program.Arg);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(0x10000)]
    public void An_argument_outside_16_bits_is_refused(int arg)
    {
        var program = new ArgRecorder();
        Assert.Throws<ArgumentOutOfRangeException>(() => program.Plan(Step.First, arg));
    }

    [Fact]
    public void A_step_value_outside_16_bits_is_refused()
    {
        var e = Assert.Throws<InvalidOperationException>(() => new HighSteps());
        Assert.Contains("0..65535", e.Message, StringComparison.Ordinal);
    }

    private enum Step
    {
        First,
        Second,
    }

    private enum WideStep : long
    {
        Only,
    }

    private sealed class Recorder : ScriptedProgram<Step>
    {
        public Step? Ran { get; private set; }

        public GuestAction Plan(Step step) => Call(step);

        protected override void Plan(GuestThread thread) => Emit(Step.First);

        protected override void Run(GuestThread thread, Step step) => Ran = step;
    }

    private enum HighStep
    {
        Low = 1,
        High = 0x10000,
    }

    private sealed class ArgRecorder : ScriptedProgram<Step>
    {
        public Step? Ran { get; private set; }
        public int Arg { get; private set; } = -1;

        public GuestAction Plan(Step step) => Call(step);

        public GuestAction Plan(Step step, int arg) => Call(step, arg);

        protected override void Plan(GuestThread thread) => Emit(Step.First, 1);

        protected override void Run(GuestThread thread, Step step) => throw new InvalidOperationException("the argument overload runs");

        protected override void Run(GuestThread thread, Step step, int arg)
        {
            Ran = step;
            Arg = arg;
        }
    }

    private sealed class HighSteps : ScriptedProgram<HighStep>
    {
        protected override void Plan(GuestThread thread) => Emit(HighStep.Low);

        protected override void Run(GuestThread thread, HighStep step)
        {
        }
    }

    private sealed class LongSteps : ScriptedProgram<WideStep>
    {
        protected override void Plan(GuestThread thread) => Emit(WideStep.Only);

        protected override void Run(GuestThread thread, WideStep step)
        {
        }
    }
}
