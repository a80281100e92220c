namespace PleSim.Cli;

public static class Program
{
    public static int Main(string[] args) => PlesimCli.Run(args, Console.Out, Console.Error);
}
