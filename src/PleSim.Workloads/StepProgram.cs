using System.Runtime.CompilerServices;
using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>
/// A <see cref="ScriptedProgram"/> whose callbacks are named steps: <typeparamref name="TStep"/>
/// is the program's enum of the points where it acts on its own state (a message published, a
/// watch re-armed). <see cref="Call"/> plans a step, <see cref="Run(GuestThread, TStep)"/> runs it.
/// The step travels in <see cref="GuestAction.Code"/> as its integer value (no boxing, no
/// allocation), so a program reads as a list of named steps rather than of integer codes.
/// </summary>
public abstract class ScriptedProgram<TStep> : ScriptedProgram
    where TStep : unmanaged, Enum
{
    protected ScriptedProgram()
    {
        // Checked once per program instance (when the model is built), not per step.
        if (Unsafe.SizeOf<TStep>() != sizeof(int) || Enum.GetUnderlyingType(typeof(TStep)) != typeof(int))
            throw new InvalidOperationException($"{typeof(TStep).Name}: the steps of a program must be an int enum");
    }

    /// <summary>The action that runs <paramref name="step"/> when the thread reaches it.</summary>
    protected GuestAction Call(TStep step) => GuestAction.Call(this, Unsafe.As<TStep, int>(ref step));

    /// <summary>Plans <paramref name="step"/> after the actions already planned.</summary>
    protected void Emit(TStep step) => Emit(Call(step));

    public sealed override void Run(GuestThread thread, int code) => Run(thread, Unsafe.As<int, TStep>(ref code));

    /// <summary>Runs one step this program planned.</summary>
    protected abstract void Run(GuestThread thread, TStep step);
}
