using System.CommandLine;
using PleSim.Experiments.Live;
using PleSim.Experiments.Scenarios;

namespace PleSim.Cli.Commands;

/// <summary>
/// <c>plesim live SCENARIO</c>: runs a host-only scenario's tasks as real threads on this
/// (Linux) machine and prints what /proc measured beside the model's prediction of the same
/// scenario under an EEVDF version (decision 0030). A measurement command, not a test: the live
/// side is not deterministic.
/// </summary>
public static class LiveCommand
{
    public const string DefaultModelScheduler = "eevdf-6.18";

    public static Command Create(CliContext ctx)
    {
        var file = new Argument<string>("scenario") { Description = "A host-only scenario file (YAML): host.tasks, no VMs (e.g. scenarios/live/*.yaml)" };
        var duration = new Option<string?>("--duration", "-d") { Description = "Measured window, for both sides (e.g. 10s); default: the file's 'duration'" };
        var warmup = new Option<string?>("--warmup") { Description = "Warm-up before the window, for both sides; default: the file's 'warmup'" };
        var set = CommonOptions.Set();
        var model = new Option<string>("--model-scheduler")
        {
            Description = $"The modelled host scheduler to compare with: {string.Join(", ", HostSettings.Schedulers)} (default {DefaultModelScheduler}, the newest modelled EEVDF)",
            DefaultValueFactory = _ => DefaultModelScheduler,
        };
        model.AcceptOnlyFromAmong(HostSettings.Schedulers);
        var seed = new Option<ulong?>("--seed", "-s") { Description = "The model's seed (default: the file's 'seed'); live jitter draws use it too" };
        var json = new Option<bool>("--json") { Description = "Print the comparison as JSON on standard output instead of tables" };
        var phases = new Option<int>("--model-phases")
        {
            Description = "Also run the model at N start phases (every task's start_at shifted by k/N of a tick, k = 0..N-1) and print each: a live run's phase against the tick is unknown, and some systems have more than one steady cycle (1-32; default 1)",
            DefaultValueFactory = _ => 1,
        };
        var cmd = new Command("live", "Run a host-only scenario as real threads on this Linux machine and print the measurement beside the model's prediction (not deterministic)")
        {
            file, duration, warmup, set, model, seed, json, phases,
        };
        cmd.SetAction(parse =>
        {
            var overrides = CommonOptions.ParseOverrides(parse.GetValue(set)).ToList();
            if (parse.GetValue(duration) is { } d)
            {
                var len = CommonOptions.ParseTime(d, "--duration", positive: true);
                overrides.Add(new Override("duration", len.ToString()));
            }
            if (parse.GetValue(warmup) is { } w)
            {
                var len = CommonOptions.ParseTime(w, "--warmup");
                overrides.Add(new Override("warmup", len.ToString()));
            }
            overrides.Add(new Override("host.scheduler", parse.GetValue(model)!));
            var scenario = CommonOptions.LoadOrReport(ctx, parse.GetValue(file)!, overrides);
            if (scenario is null)
                return ExitCodes.BadInput;
            LivePlan plan;
            try
            {
                plan = LivePlan.From(scenario, Environment.ProcessorCount);
            }
            catch (LiveException e)
            {
                throw new CliInputException(e.Message);
            }
            if (LiveRunner.Unsupported() is { } why)
                throw new CliInputException(why);
            ulong s = parse.GetValue(seed) ?? scenario.Seed;
            int n = parse.GetValue(phases);
            if (n < 1 || n > 32)
                throw new CliInputException($"--model-phases: expected 1 to 32 start phases, not {n}");
            var modelSide = LiveComparison.RunModel(scenario, s);
            var modelPhases = n > 1 ? LiveComparison.ModelPhases(scenario, modelSide, n) : [];
            if (!parse.GetValue(json))
                ctx.Err.WriteLine($"plesim: running {plan.Tasks.Count} live task(s) for {scenario.Warmup} warm-up + {scenario.Duration} on this machine…");
            LiveRun live;
            try
            {
                live = LiveRunner.Run(plan, scenario.Warmup.Ns, scenario.Duration.Ns, s);
            }
            catch (LiveException e)
            {
                ctx.Error(e.Message);
                return ExitCodes.RunFailed;
            }
            var comparison = LiveComparison.Build(scenario, modelSide, live) with { Phases = modelPhases };
            if (parse.GetValue(json))
                ctx.Out.Write(comparison.ToJson());
            else
                ctx.Out.Write(comparison.ToText());
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
