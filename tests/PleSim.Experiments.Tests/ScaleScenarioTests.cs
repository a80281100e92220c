using PleSim.Engine;
using PleSim.Experiments.Benchmarks;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>Hosts beyond 64 CPUs and VMs beyond 64 VCPUs (decision 0038).</summary>
public class ScaleScenarioTests
{
    private static Scenario Big(int hostCpus, int vcpus, string extra = "") => ScenarioLoader.LoadText(
        $"name: big\ndescription: a large VM\nkind: system\nseed: 3\nruns: 1\nduration: 8ms\nwarmup: 0\nhost:\n  cpus: {hostCpus}\n" +
        $"vms:\n  - name: big\n    vcpus: {vcpus}\n    workload: {{kind: lock-bench, threads: {vcpus}, locks: 4, hold: 2us, think: 5us}}\n" + extra,
        "big.yaml");

    [Fact]
    public void A_200_vcpu_vm_on_a_128_cpu_host_runs_with_its_invariants_checked_after_every_event()
    {
        var model = new SystemRun(Big(128, 200), 3);
        model.Sim.Invariants.Enable(1);
        model.Sim.RunUntil(SimTime.Zero + SimDuration.FromMilliseconds(8));
        model.Sim.Invariants.CheckAll();
        var vm = model.Vms[0].Vm;
        Assert.Equal(200, vm.Vcpus.Count);
        // All 128 host CPUs ran VCPUs (so at least 128 of the 200 ran), VCPUs past index 63
        // included, and host CPUs past 63 were used.
        int ran = vm.Vcpus.Count(v => v.Task.CpuTimeNs > 0);
        Assert.True(ran >= 128, $"only {ran} VCPUs ran");
        Assert.Contains(vm.Vcpus, v => v.Index >= 64 && v.Task.CpuTimeNs > 0);
        Assert.Contains(vm.Vcpus, v => v.Task.Cpu >= 64);
        // 200 VCPUs on 128 CPUs with a contended lock: some spinner exits on PAUSE.
        Assert.True(vm.Vcpus.Sum(v => v.Stats.PauseExits) > 0);
    }

    [Fact]
    public void Hosts_up_to_512_cpus_and_vms_up_to_1024_vcpus_load_and_larger_ones_are_refused()
    {
        var ok = Big(512, 1024);
        Assert.Equal(512, ok.Host.Cpus);
        Assert.Equal(1024, ok.Vms[0].Vcpus);
        var cpus = Assert.Throws<ScenarioException>(() => Big(513, 4));
        Assert.Contains("[1, 512]", cpus.Message);
        var vcpus = Assert.Throws<ScenarioException>(() => Big(4, 1025));
        Assert.Contains("[1, 1024]", vcpus.Message);
    }

    [Fact]
    public void A_vm_affinity_beyond_cpu_63_is_parsed_and_honoured()
    {
        var s = ScenarioLoader.LoadText(
            "name: big\ndescription: pinned high\nkind: system\nseed: 3\nruns: 1\nduration: 5ms\nwarmup: 0\nhost:\n  cpus: 256\n" +
            "vms:\n  - name: big\n    vcpus: 8\n    affinity: 200-203\n    workload: {kind: hog, loops: 8}\n", "pinned.yaml");
        var model = new SystemRun(s, 3);
        model.Sim.Invariants.Enable(1);
        model.Sim.RunUntil(SimTime.Zero + SimDuration.FromMilliseconds(5));
        Assert.All(model.Vms[0].Vm.Vcpus, v => Assert.InRange(v.Task.Cpu, 200, 203));
    }

    [Fact]
    public void The_scale_benchmarks_run_four_64_vcpu_guests_on_256_cpus_and_at_2x_on_128()
    {
        var wide = ScenarioLoader.LoadText(HostBenchmark.ScaleFourGuests256Cpus, "bench.yaml");
        Assert.Equal(256, wide.Host.Cpus);
        Assert.Equal([64, 64, 64, 64], wide.Vms.Select(v => v.Vcpus));
        var s = ScenarioLoader.LoadText(HostBenchmark.ScaleFourGuestsTwoX, "bench.yaml");
        Assert.Equal([64, 64, 64, 64], s.Vms.Select(v => v.Vcpus));
        Assert.Equal(2 * s.Host.Cpus, s.Vms.Sum(v => v.Vcpus));
        var model = new SystemRun(s, 1);
        model.Sim.RunUntil(SimTime.Zero + SimDuration.FromMilliseconds(20));
        // Every host CPU has been running VCPUs (the 2x host has no idle CPU to spare).
        int ran = model.Vms.Sum(vm => vm.Vm.Vcpus.Count(v => v.Task.CpuTimeNs > 0 || v.Task.OnCpu));
        Assert.True(ran >= s.Host.Cpus, $"{ran} VCPUs ran on {s.Host.Cpus} CPUs");
    }

    [Fact]
    public void The_scale_benchmarks_take_a_kvm_release_in_place_of_the_2011_directed_yield()
    {
        var old = ScenarioLoader.LoadText(HostBenchmark.ScaleFourGuests256Cpus, "bench.yaml");
        Assert.Equal("directed-yield-2011", old.Kvm.PleHandler);
        var now = HostBenchmark.WithKvmVersion(HostBenchmark.ScaleFourGuests256Cpus, "6.12");
        Assert.Equal("directed-yield-5.3", now.Kvm.PleHandler);
        Assert.True(now.Kvm.PleWindowPolicy.Dynamic);
        Assert.EndsWith("-kvm-6.12", now.Name);
        Assert.Equal(256, now.Host.Cpus);
        // 2.6.39 is the file as it is: the 2011 handler and the file's name.
        var same = HostBenchmark.WithKvmVersion(HostBenchmark.ScaleFourGuestsTwoX, "2.6.39");
        var file = ScenarioLoader.LoadText(HostBenchmark.ScaleFourGuestsTwoX, "bench.yaml");
        Assert.Equal(file.Name, same.Name);
        Assert.Equal(file.Kvm, same.Kvm);
        Assert.Throws<ArgumentException>(() => HostBenchmark.WithKvmVersion(HostBenchmark.ScaleFourGuestsTwoX, "9.99"));
    }
}
