// dbench's load: the operations of its netbench load file (client.txt) and their mix over one pass.
// Sources and assumptions: docs/dbench.md; decision 0048.

namespace PleSim.Workloads;

/// <summary>
/// One line of dbench's load file as this model replays it. The first sixteen are the operations dbench
/// itself counts and prints (its <c>Operation Count AvgLat MaxLat</c> table, in that table's order);
/// NTCreateX is split three ways by what the open finds, all three reported as NTCreateX.
/// </summary>
public enum DbenchOp
{
    /// <summary>NTCreateX of a file that exists: <c>open</c> (fileio.c <c>fio_createx</c>).</summary>
    NTCreateX,
    Close,
    Rename,
    Unlink,
    Deltree,
    Mkdir,
    Qpathinfo,
    Qfileinfo,
    Qfsinfo,
    Sfileinfo,
    Find,
    WriteX,
    ReadX,
    LockX,
    UnlockX,
    Flush,

    /// <summary>NTCreateX that creates the file (<c>O_CREAT</c>); reported as NTCreateX.</summary>
    NTCreateXCreate,

    /// <summary>NTCreateX whose file does not exist and whose expected status is a failure; reported as NTCreateX.</summary>
    NTCreateXMiss,
}

/// <summary>
/// The order of operations within one pass of the load file. The load file itself (dbench 4's
/// client.txt, a 4 MB+ file) was not readable here, so a pass is built from what was read: the
/// per-operation counts dbench printed for a 10-client, 1000-second ext4 run with client.txt
/// (a public md-raid thread; a second published 16-client run has the same ratios to 0.1%), divided
/// by that run's 120 Mkdir — one Mkdir per client per pass. NTCreateX is split by two rules that hold
/// in any pass of dbench: every successful open is closed (so NTCreateX − Close of them fail), and the
/// tree is empty at the start and end of a pass (so as many files are created as unlinked). A pass
/// starts with Deltree and Mkdir of the client's directory and ends with Deltree; the operations in
/// between are interleaved evenly (smooth weighted round robin), which is an assumption: the real
/// file's order (open, I/O, close sequences) was not read.
/// </summary>
public sealed class DbenchLoadCursor
{
    /// <summary>Published totals of the ext4 run (dbench 4.0, client.txt, 10 clients, -t 1000).</summary>
    public static readonly long[] PublishedCounts =
    [
        9805011, // NTCreateX
        7202525, // Close
        415213,  // Rename
        1980066, // Unlink
        240,     // Deltree
        120,     // Mkdir
        8887512, // Qpathinfo
        1557262, // Qfileinfo
        1629582, // Qfsinfo
        798756,  // Sfileinfo
        3436004, // Find
        4887239, // WriteX
        15370483, // ReadX
        31934,   // LockX
        31933,   // UnlockX
        687205,  // Flush
    ];

    /// <summary>Passes in the published run: its Mkdir count (one per client per pass).</summary>
    public const long PublishedPasses = 120;

    /// <summary>Number of <see cref="DbenchOp"/> values.</summary>
    public const int OpKinds = 18;

    /// <summary>The operations interleaved within a pass (all but Deltree and Mkdir), in table order.</summary>
    private static readonly DbenchOp[] Middle =
    [
        DbenchOp.NTCreateX, DbenchOp.NTCreateXCreate, DbenchOp.NTCreateXMiss, DbenchOp.Close, DbenchOp.Rename,
        DbenchOp.Unlink, DbenchOp.Qpathinfo, DbenchOp.Qfileinfo, DbenchOp.Qfsinfo, DbenchOp.Sfileinfo,
        DbenchOp.Find, DbenchOp.WriteX, DbenchOp.ReadX, DbenchOp.LockX, DbenchOp.UnlockX, DbenchOp.Flush,
    ];

    /// <summary>Per-pass weight of each <see cref="Middle"/> entry.</summary>
    private static readonly long[] Weights = BuildWeights();

    /// <summary>Operations in one pass: Deltree, Mkdir, the interleaved middle, Deltree.</summary>
    public static readonly long PassLength = MiddleLength() + 3;

    private readonly long[] _current;
    private long _pos;

    public DbenchLoadCursor()
    {
        _current = new long[Middle.Length];
    }

    /// <summary>Operations handed out so far (all passes).</summary>
    public long Position => _pos;

    /// <summary>Per-pass count of <paramref name="op"/> in this model's pass.</summary>
    public static long PerPass(DbenchOp op)
    {
        if (op == DbenchOp.Deltree)
            return 2;
        if (op == DbenchOp.Mkdir)
            return 1;
        for (int i = 0; i < Middle.Length; i++)
            if (Middle[i] == op)
                return Weights[i];
        return 0;
    }

    /// <summary>The name dbench prints for <paramref name="op"/> (the three NTCreateX kinds are one).</summary>
    public static DbenchOp Reported(DbenchOp op) => op is DbenchOp.NTCreateXCreate or DbenchOp.NTCreateXMiss ? DbenchOp.NTCreateX : op;

    /// <summary>The next line of the load file (rewinding at the end of a pass, as <c>child_run</c> does).</summary>
    public DbenchOp Next()
    {
        long inPass = _pos % PassLength;
        _pos++;
        if (inPass == 0)
        {
            Array.Clear(_current);
            return DbenchOp.Deltree;
        }
        if (inPass == 1)
            return DbenchOp.Mkdir;
        if (inPass == PassLength - 1)
            return DbenchOp.Deltree;
        // Smooth weighted round robin: every entry gains its weight, the largest is picked and loses
        // the total. Over one pass each entry is picked exactly its weight, spread evenly.
        long total = PassLength - 3;
        int best = 0;
        for (int i = 0; i < _current.Length; i++)
        {
            _current[i] += Weights[i];
            if (_current[i] > _current[best])
                best = i;
        }
        _current[best] -= total;
        return Middle[best];
    }

    private static long Round(long count) => (count + (PublishedPasses / 2)) / PublishedPasses;

    private static long[] BuildWeights()
    {
        var c = PublishedCounts;
        long ntcreatex = Round(c[(int)DbenchOp.NTCreateX]);
        long close = Round(c[(int)DbenchOp.Close]);
        long unlink = Round(c[(int)DbenchOp.Unlink]);
        long creates = unlink;                 // the tree is empty at both ends of a pass
        long misses = ntcreatex - close;       // every successful open is closed
        long opens = ntcreatex - creates - misses;
        var w = new long[Middle.Length];
        for (int i = 0; i < Middle.Length; i++)
        {
            w[i] = Middle[i] switch
            {
                DbenchOp.NTCreateX => opens,
                DbenchOp.NTCreateXCreate => creates,
                DbenchOp.NTCreateXMiss => misses,
                var op => Round(c[(int)op]),
            };
        }
        return w;
    }

    private static long MiddleLength()
    {
        long s = 0;
        foreach (long x in Weights)
            s += x;
        return s;
    }
}
