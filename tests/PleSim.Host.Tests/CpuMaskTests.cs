
namespace PleSim.Host.Tests;

/// <summary>CpuMask: the fixed-capacity cpumask (decision 0038).</summary>
public class CpuMaskTests
{
    [Fact]
    public void Set_clear_and_contains_work_in_every_word()
    {
        var m = default(CpuMask);
        int[] cpus = [0, 63, 64, 127, 200, 511, 512, CpuMask.NrCpus - 1];
        foreach (int c in cpus)
            m.Set(c);
        Assert.Equal(cpus.Length, m.Count);
        foreach (int c in cpus)
            Assert.True(m.Contains(c), $"CPU {c}");
        Assert.False(m.Contains(1));
        Assert.False(m.Contains(65));
        Assert.False(m.Contains(CpuMask.NrCpus)); // out of range: not a member, no exception
        m.Clear(64);
        Assert.False(m.Contains(64));
        Assert.True(m.Contains(63));
        Assert.Equal(cpus.Length - 1, m.Count);
    }

    [Fact]
    public void Iteration_is_ascending_and_crosses_word_boundaries()
    {
        var m = default(CpuMask);
        int[] cpus = [5, 63, 64, 65, 130, 700, 1023];
        foreach (int c in cpus.Reverse())
            m.Set(c);
        var seen = new List<int>();
        for (int i = m.First; i >= 0; i = m.Next(i + 1))
            seen.Add(i);
        Assert.Equal(cpus, seen);
        Assert.Equal(-1, default(CpuMask).First);
        Assert.Equal(-1, m.Next(1024));
        Assert.Equal(130, m.Next(66));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(128)]
    [InlineData(512)]
    [InlineData(1024)]
    public void All_holds_exactly_the_first_n_cpus(int n)
    {
        var m = CpuMask.All(n);
        Assert.Equal(n, m.Count);
        Assert.True(m.Contains(n - 1));
        Assert.False(m.Contains(n));
        Assert.Equal(0, m.First);
        Assert.Equal(n == 1 ? "0" : $"0-{n - 1}", m.ToString());
    }

    [Fact]
    public void And_or_andnot_intersects_and_equality_follow_set_algebra()
    {
        var a = CpuMask.All(100);
        var b = default(CpuMask);
        b.Set(3);
        b.Set(99);
        b.Set(300);
        var and = a & b;
        Assert.Equal("3,99", and.ToString());
        var or = a | b;
        Assert.Equal("0-99,300", or.ToString());
        var diff = a;
        diff.AndNot(b);
        Assert.Equal(98, diff.Count);
        Assert.False(diff.Contains(99));
        Assert.True(a.Intersects(b));
        Assert.False(diff.Intersects(and));
        Assert.True(and == (CpuMask.Of(3) | CpuMask.Of(99)));
        Assert.NotEqual(and, CpuMask.Of(3));
        Assert.Equal((CpuMask.Of(3) | CpuMask.Of(99)).GetHashCode(), and.GetHashCode());
        Assert.True(CpuMask.Of(7).IsOnly(7));
        Assert.False(and.IsOnly(3));
        Assert.True(default(CpuMask).IsEmpty);
        Assert.False(and.IsEmpty);
    }

    [Fact]
    public void Masks_with_the_same_cpus_are_equal_however_they_were_built()
    {
        var high = CpuMask.Of(700);
        high.Clear(700);
        Assert.True(high.IsEmpty);
        Assert.Equal(default(CpuMask), high);
        Assert.Equal(default(CpuMask).GetHashCode(), high.GetHashCode());
        var narrowed = CpuMask.All(1024);
        narrowed.And(CpuMask.Of(3));
        Assert.Equal(CpuMask.Of(3), narrowed);
        Assert.Equal(-1, narrowed.Next(4));
        var widened = CpuMask.Of(3);
        widened.Or(CpuMask.Of(900));
        Assert.Equal(900, widened.Next(4));
        widened.AndNot(CpuMask.All(1024));
        Assert.True(widened.IsEmpty);
        Assert.Equal(-1, widened.First);
    }

    [Fact]
    public void Setting_a_cpu_beyond_the_capacity_is_refused()
    {
        var m = default(CpuMask);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Set(CpuMask.NrCpus));
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuMask.All(CpuMask.NrCpus + 1));
    }

    [Fact]
    public void A_64_bit_word_converts_to_cpus_0_to_63()
    {
        CpuMask m = 0b1011UL;
        Assert.Equal("0-1,3", m.ToString());
        CpuMask all64 = ulong.MaxValue;
        Assert.Equal(CpuMask.All(64), all64);
        Assert.Equal(ulong.MaxValue, all64.Word(0));
        Assert.Equal(0UL, all64.Word(1));
    }

    [Theory]
    [InlineData("0-3,130,511", 512, "0-3,130,511")]
    [InlineData("all", 300, "0-299")]
    [InlineData("64-127", 128, "64-127")]
    public void Cpu_lists_beyond_64_parse_and_print(string text, int cpus, string expected)
    {
        Assert.True(CpuSet.TryParse(text, cpus, out var set, out var problem), problem);
        Assert.Equal(expected, set.ToString());
    }

    [Fact]
    public void A_cpu_list_beyond_the_host_is_refused()
    {
        Assert.False(CpuSet.TryParse("0-128", 128, out _, out var problem));
        Assert.Contains("CPU 128 does not exist", problem);
    }

    [Fact]
    public void A_128_cpu_host_spreads_hogs_beyond_cpu_63_and_keeps_its_invariants()
    {
        var kit = new HostKit(128);
        var hogs = new List<HostTask>();
        for (int i = 0; i < 128; i++)
            hogs.Add(kit.Hog($"hog{i}", startCpu: 0));
        kit.RunMs(2000);
        kit.Sim.Invariants.CheckAll();
        // Fork balancing and load balancing place every hog; with 128 hogs on 128 CPUs each CPU
        // ends up with work, including the CPUs a 64-bit mask could not name.
        var busy = new HashSet<int>(hogs.Select(h => h.Cpu));
        Assert.Contains(busy, c => c >= 64);
        Assert.True(busy.Count > 64, $"hogs on {busy.Count} CPUs");
        Assert.All(hogs, h => Assert.True(h.CpuTimeNs > 0, h.Name));
    }

    [Fact]
    public void Affinity_to_high_cpus_is_honoured_on_a_128_cpu_host()
    {
        var kit = new HostKit(128);
        var pinned = HostKit.Cpu(100, 101);
        var hogs = new List<HostTask>();
        for (int i = 0; i < 4; i++)
            hogs.Add(kit.Hog($"p{i}", affinity: pinned, startCpu: 100));
        kit.RunMs(500);
        kit.Sim.Invariants.CheckAll();
        Assert.All(hogs, h => Assert.True(h.Cpu is 100 or 101, $"{h.Name} on CPU {h.Cpu}"));
        Assert.Contains(hogs, h => h.Cpu == 101); // the balancer used both allowed CPUs
    }
}
