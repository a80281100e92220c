using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace PleSim.Host;

/// <summary>
/// A fixed-capacity CPU bitmap, the model's <c>struct cpumask</c> (include/linux/cpumask.h):
/// <see cref="NrCpus"/> bits stored inline as 64-bit words, so a mask is a plain value — copied,
/// compared and combined without allocating. The kernel sizes the same bitmap by the build-time
/// <c>NR_CPUS</c>; one capacity serves host CPUs and guest VCPUs here (see decision 0038).
/// Iteration is ascending, as <c>for_each_cpu</c> walks the bitmap with <c>find_next_bit</c>.
/// </summary>
public struct CpuMask : IEquatable<CpuMask>
{
    /// <summary>Capacity in CPUs (the model's <c>NR_CPUS</c>).</summary>
    public const int NrCpus = Words * 64;
    private const int Words = 16;

    [InlineArray(Words)]
    private struct Bits
    {
        private ulong _word;
    }

    private Bits _bits;

    // Number of leading words that may be non-zero: every word at or above it is zero. An upper
    // bound only (clearing bits does not lower it), kept so that a small machine's masks cost
    // one word per operation instead of all sixteen.
    private int _used;

    private readonly ref ulong At(int w) => ref Unsafe.Add(ref Unsafe.As<Bits, ulong>(ref Unsafe.AsRef(in _bits)), w);

    /// <summary>The mask holding only <paramref name="cpu"/> (<c>cpumask_of</c>).</summary>
    public static CpuMask Of(int cpu)
    {
        var m = default(CpuMask);
        m.Set(cpu);
        return m;
    }

    /// <summary>CPUs 0 … <paramref name="cpus"/>−1 (<c>cpu_possible_mask</c> of a machine with that many CPUs).</summary>
    public static CpuMask All(int cpus)
    {
        if ((uint)cpus > NrCpus)
            throw new ArgumentOutOfRangeException(nameof(cpus), $"at most {NrCpus} CPUs");
        var m = default(CpuMask);
        int full = cpus >> 6;
        for (int w = 0; w < full; w++)
            m._bits[w] = ulong.MaxValue;
        if ((cpus & 63) != 0)
            m._bits[full] = (1UL << (cpus & 63)) - 1;
        m._used = (cpus + 63) >> 6;
        return m;
    }

    /// <summary>Builds a mask from its low 64 bits (tests and small hosts).</summary>
    public static CpuMask FromUInt64(ulong low)
    {
        var m = default(CpuMask);
        m._bits[0] = low;
        m._used = 1;
        return m;
    }

    /// <summary>A mask of CPUs 0–63 from a 64-bit word (bit i = CPU i), as the model's masks were before 0038.</summary>
    public static implicit operator CpuMask(ulong low) => FromUInt64(low);

    /// <summary>The 64-bit word <paramref name="index"/> of the bitmap.</summary>
    public readonly ulong Word(int index) => _bits[index]; // zero above _used

    public readonly bool Contains(int cpu) => (uint)(cpu >> 6) < (uint)_used && (At(cpu >> 6) & (1UL << (cpu & 63))) != 0;

    public void Set(int cpu)
    {
        int w = cpu >> 6;
        if ((uint)w >= Words)
            throw new ArgumentOutOfRangeException(nameof(cpu), cpu, $"CPU numbers go up to {NrCpus - 1}");
        At(w) |= 1UL << (cpu & 63);
        if (w >= _used)
            _used = w + 1;
    }

    public void Clear(int cpu)
    {
        int w = cpu >> 6;
        if ((uint)w < (uint)_used)
            At(w) &= ~(1UL << (cpu & 63));
    }

    public readonly bool IsEmpty
    {
        get
        {
            for (int w = 0; w < _used; w++)
                if (At(w) != 0)
                    return false;
            return true;
        }
    }

    /// <summary>Number of CPUs in the mask (<c>cpumask_weight</c>).</summary>
    public readonly int Count
    {
        get
        {
            int n = 0;
            for (int w = 0; w < _used; w++)
                n += BitOperations.PopCount(At(w));
            return n;
        }
    }

    /// <summary>Lowest CPU in the mask, or −1 if empty (<c>cpumask_first</c>).</summary>
    public readonly int First => Next(0);

    /// <summary>Lowest CPU ≥ <paramref name="from"/> in the mask, or −1 (<c>find_next_bit</c>).</summary>
    public readonly int Next(int from)
    {
        int w = from >> 6;
        if ((uint)w >= (uint)_used)
            return -1;
        ulong word = At(w) & (ulong.MaxValue << (from & 63));
        while (true)
        {
            if (word != 0)
                return (w << 6) + BitOperations.TrailingZeroCount(word);
            if (++w >= _used)
                return -1;
            word = At(w);
        }
    }

    /// <summary>Whether the two masks share a CPU (<c>cpumask_intersects</c>).</summary>
    public readonly bool Intersects(in CpuMask other)
    {
        int n = Math.Min(_used, other._used);
        for (int w = 0; w < n; w++)
            if ((At(w) & other.At(w)) != 0)
                return true;
        return false;
    }

    /// <summary>Whether the mask holds exactly one CPU, <paramref name="cpu"/>.</summary>
    public readonly bool IsOnly(int cpu) => Contains(cpu) && Count == 1;

    public void And(in CpuMask other)
    {
        for (int w = 0; w < _used; w++)
            At(w) &= other.At(w); // zero above other._used
        _used = Math.Min(_used, other._used);
    }

    public void Or(in CpuMask other)
    {
        for (int w = 0; w < other._used; w++)
            At(w) |= other.At(w);
        _used = Math.Max(_used, other._used);
    }

    public void AndNot(in CpuMask other)
    {
        int n = Math.Min(_used, other._used);
        for (int w = 0; w < n; w++)
            At(w) &= ~other.At(w);
    }

    public static CpuMask operator &(in CpuMask a, in CpuMask b)
    {
        var m = a;
        m.And(b);
        return m;
    }

    public static CpuMask operator |(in CpuMask a, in CpuMask b)
    {
        var m = a;
        m.Or(b);
        return m;
    }

    public readonly bool Equals(CpuMask other)
    {
        int n = Math.Max(_used, other._used);
        for (int w = 0; w < n; w++)
            if (At(w) != other.At(w))
                return false;
        return true;
    }

    public override readonly bool Equals(object? obj) => obj is CpuMask m && Equals(m);

    public override readonly int GetHashCode()
    {
        ulong h = 14695981039346656037UL;
        for (int w = 0; w < Words; w++)
            h = (h ^ _bits[w]) * 1099511628211UL; // every word: equal masks may differ in _used
        return (int)(h ^ (h >> 32));
    }

    public static bool operator ==(in CpuMask a, in CpuMask b) => a.Equals(b);

    public static bool operator !=(in CpuMask a, in CpuMask b) => !a.Equals(b);

    /// <summary>The kernel's cpulist format (<c>0-3,6</c>), as <c>cpumap_print_to_pagebuf</c> prints a list.</summary>
    public override readonly string ToString()
    {
        var sb = new StringBuilder();
        int c = First;
        while (c >= 0)
        {
            int start = c;
            while (c + 1 < NrCpus && Contains(c + 1))
                c++;
            if (sb.Length > 0)
                sb.Append(',');
            sb.Append(start == c ? $"{start}" : $"{start}-{c}");
            c = Next(c + 1);
        }
        return sb.ToString();
    }
}
