using BenchmarkDotNet.Running;

namespace PleSim.Benchmarks;

/// <summary>
/// BenchmarkDotNet entry point: <c>dotnet run -c Release --project bench/PleSim.Benchmarks -- --filter '*'</c>.
/// The quick in-process figures are <c>plesim bench</c>; these are the careful ones.
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
