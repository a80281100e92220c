using System.Runtime.CompilerServices;
using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>
/// A <see cref="ScriptedProgram"/> whose callbacks are named steps: <typeparamref name="TStep"/>
/// is the program's enum of the points where it acts on its own state (a message published, a
/// watch re-armed). <see cref="Call(TStep)"/> plans a step, <see cref="Run(GuestThread, TStep)"/> runs it.
/// The step travels in <see cref="GuestAction.Code"/> as its integer value (no boxing, no
/// allocation), so a program reads as a list of named steps rather than of integer codes.
/// <para>
/// A step may carry a small argument (which mutex, which buffer): <see cref="Call(TStep, int)"/>
/// packs it into the code's high 16 bits (the step stays in the low 16, so a step without an
/// argument still travels as its plain value), and <see cref="Run(GuestThread, TStep, int)"/>
/// receives it. Step values must lie in 0..65535 and arguments in 0..<see cref="MaxArg"/>.
/// </para>
/// </summary>
public abstract class ScriptedProgram<TStep> : ScriptedProgram
    where TStep : unmanaged, Enum
{
    protected ScriptedProgram()
    {
        // Checked once per program instance (when the model is built), not per step.
        if (Unsafe.SizeOf<TStep>() != sizeof(int) || Enum.GetUnderlyingType(typeof(TStep)) != typeof(int))
            throw new InvalidOperationException($"{typeof(TStep).Name}: the steps of a program must be an int enum");
        foreach (var v in Enum.GetValues<TStep>())
        {
            int i = Unsafe.As<TStep, int>(ref Unsafe.AsRef(in v));
            if ((uint)i > StepMask)
                throw new InvalidOperationException($"{typeof(TStep).Name}.{v}: a step's value must lie in 0..{StepMask}");
        }
    }

    private const int ArgShift = 16;
    private const int StepMask = 0xFFFF;

    /// <summary>The largest argument <see cref="Call(TStep, int)"/> carries (16 bits).</summary>
    protected const int MaxArg = 0xFFFF;

    /// <summary>The action that runs <paramref name="step"/> when the thread reaches it.</summary>
    protected GuestAction Call(TStep step) => GuestAction.Call(this, Unsafe.As<TStep, int>(ref step));

    /// <summary>
    /// The action that runs <paramref name="step"/> with <paramref name="arg"/> (0..<see cref="MaxArg"/>)
    /// when the thread reaches it: both travel in <see cref="GuestAction.Code"/>, the argument in the
    /// high 16 bits; <see cref="Run(GuestThread, TStep, int)"/> gets them back.
    /// </summary>
    protected GuestAction Call(TStep step, int arg)
    {
        if ((uint)arg > MaxArg)
            ThrowArg(arg);
        return GuestAction.Call(this, (arg << ArgShift) | Unsafe.As<TStep, int>(ref step));
    }

    /// <summary>Plans <paramref name="step"/> after the actions already planned.</summary>
    protected void Emit(TStep step) => Emit(Call(step));

    /// <summary>Plans <paramref name="step"/> with <paramref name="arg"/> after the actions already planned.</summary>
    protected void Emit(TStep step, int arg) => Emit(Call(step, arg));

    public sealed override void Run(GuestThread thread, int code)
    {
        int step = code & StepMask;
        Run(thread, Unsafe.As<int, TStep>(ref step), (int)((uint)code >> ArgShift));
    }

    /// <summary>
    /// Runs one step this program planned with its argument (0 for a step planned without one).
    /// By default the argument is ignored and <see cref="Run(GuestThread, TStep)"/> runs the step.
    /// </summary>
    protected virtual void Run(GuestThread thread, TStep step, int arg) => Run(thread, step);

    /// <summary>Runs one step this program planned.</summary>
    protected abstract void Run(GuestThread thread, TStep step);

    private static void ThrowArg(int arg) =>
        throw new ArgumentOutOfRangeException(nameof(arg), arg, $"a step's argument must lie in 0..{MaxArg}");
}
