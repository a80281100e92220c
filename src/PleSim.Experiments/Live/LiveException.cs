namespace PleSim.Experiments.Live;

/// <summary>A scenario <c>plesim live</c> cannot run on this machine, or a live run that failed; the message says why.</summary>
public sealed class LiveException(string message) : Exception(message);
