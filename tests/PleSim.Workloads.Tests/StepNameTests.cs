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

    private sealed class LongSteps : ScriptedProgram<WideStep>
    {
        protected override void Plan(GuestThread thread) => Emit(WideStep.Only);

        protected override void Run(GuestThread thread, WideStep step)
        {
        }
    }
}
