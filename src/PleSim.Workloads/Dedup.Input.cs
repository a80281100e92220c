using PleSim.Engine;

namespace PleSim.Workloads;

/// <summary>
/// The input stream as dedup's chunking cuts it, drawn once when the model is built: the Fragment
/// stage's MAXBUF buffers and coarse chunks (encoder.c <c>Fragment</c>: a cut at the first Rabin anchor at
/// least ANCHOR_JUMP bytes in; a buffer's tail without an anchor is carried into the next buffer and
/// scanned again), and each coarse chunk's fine chunks (<c>FragmentRefine</c>: a cut at every anchor,
/// <c>rabinseg</c> never before NWINDOW bytes). On random-like data (the input is media files) a position
/// is an anchor with probability 2^-12 (RabinMask 0xfff), so the distance to the next anchor is NWINDOW
/// plus a geometric number of bytes. A fine chunk repeats an earlier chunk's content with probability
/// <see cref="DedupSettings.DuplicateFraction"/> (uniformly among the contents seen so far, with that
/// content's size when it fits); which copy is the original is decided when the pipeline runs, by which
/// one reaches the hash table first.
/// </summary>
public sealed class DedupInput
{
    public DedupInput(DedupSettings s, RandomStream rng)
    {
        double p = 1.0 / (1L << Math.Clamp(s.RabinMaskBits, 0, 30));
        double geomMean = p >= 1 ? 0 : 1.0 / -DeterministicMath.Log(1 - p);
        int Anchor() => s.NWindow + (geomMean <= 0 ? 0 : (int)Math.Min(int.MaxValue / 2, Math.Floor(rng.Exponential(geomMean))));

        var blockCopy = new List<long>();
        var blockFirst = new List<int>();
        var blockFreesPrev = new List<bool>();
        var coarseBytes = new List<long>();
        var coarseScan = new List<long>();
        var coarseBlock = new List<int>();
        long fileLeft = Math.Max(0, s.InputBytes);
        long carry = 0;
        long scan = 0;
        int pendingD = -1;
        while (true)
        {
            long read = Math.Min(s.MaxBuf, fileLeft);
            fileLeft -= read;
            if (carry + read == 0)
                break;
            // A new buffer of MAXBUF + bytes_left: the leftover copied in (and its old piece freed), the read appended.
            int b = blockCopy.Count;
            blockCopy.Add(carry + read);
            blockFirst.Add(coarseBytes.Count);
            blockFreesPrev.Add(carry > 0);
            long avail = carry + read;
            if (read == 0)
            {
                // End of file: the stub is the last coarse chunk, not scanned again.
                coarseBytes.Add(avail);
                coarseScan.Add(0);
                coarseBlock.Add(b);
                carry = 0;
                EndsWithStub = true;
                break;
            }
            while (avail > s.AnchorJump)
            {
                if (pendingD < 0)
                    pendingD = Anchor();
                long region = avail - s.AnchorJump;
                if (pendingD < region)
                {
                    long size = s.AnchorJump + pendingD;
                    coarseBytes.Add(size);
                    coarseScan.Add(scan + pendingD);
                    coarseBlock.Add(b);
                    avail -= size;
                    scan = 0;
                    pendingD = -1;
                }
                else
                {
                    scan += region; // no anchor in the rest of the buffer: scanned now, again in the next one
                    break;
                }
            }
            carry = avail;
        }
        if (coarseBytes.Count > 0 && scan > 0)
            coarseScan[^1] += scan;

        var size2 = new List<int>();
        var content = new List<int>();
        var contentSize = new List<int>();
        var coarseFirst = new int[coarseBytes.Count];
        var coarseCount = new int[coarseBytes.Count];
        var blockRefs = new int[blockCopy.Count];
        for (int k = 0; k < coarseBytes.Count; k++)
        {
            coarseFirst[k] = size2.Count;
            long pos = 0, total = coarseBytes[k];
            while (pos < total)
            {
                long rem = total - pos;
                int c = -1;
                int d = 0;
                if (contentSize.Count > 0 && rng.Bernoulli(s.DuplicateFraction))
                {
                    int x = rng.NextInt(contentSize.Count);
                    if (contentSize[x] <= rem)
                    {
                        c = x;
                        d = contentSize[x];
                    }
                }
                if (c < 0)
                {
                    d = rem < s.NWindow ? (int)rem : Anchor();
                    if (d >= rem)
                        d = (int)rem;
                    c = contentSize.Count;
                    contentSize.Add(d);
                }
                size2.Add(d);
                content.Add(c);
                pos += d;
            }
            coarseCount[k] = size2.Count - coarseFirst[k];
            blockRefs[coarseBlock[k]] += coarseCount[k];
        }
        for (int b = 1; b < blockRefs.Length; b++)
        {
            if (blockFreesPrev[b])
                blockRefs[b - 1]++; // the carried tail: a piece of the old buffer until Fragment frees it
        }

        BlockCopyBytes = blockCopy.ToArray();
        BlockFirstCoarse = blockFirst.ToArray();
        BlockFreesPrevious = blockFreesPrev.ToArray();
        BlockRefs = blockRefs;
        CoarseBytes = coarseBytes.ToArray();
        CoarseScanBytes = coarseScan.ToArray();
        CoarseBlock = coarseBlock.ToArray();
        CoarseFirst = coarseFirst;
        CoarseCount = coarseCount;
        Size = size2.ToArray();
        Content = content.ToArray();
        ContentCount = contentSize.Count;
        TotalBytes = blockCopy.Count == 0 ? 0 : Math.Max(0, s.InputBytes);
        ChunkBlock = new int[Size.Length];
        for (int k = 0; k < CoarseFirst.Length; k++)
        {
            for (int i = 0; i < CoarseCount[k]; i++)
                ChunkBlock[CoarseFirst[k] + i] = CoarseBlock[k];
        }
    }

    public long TotalBytes { get; }

    /// <summary>The last coarse chunk is the end-of-file stub (handed on whole, never split off a buffer).</summary>
    public bool EndsWithStub { get; }

    /// <summary>Per MAXBUF buffer: bytes copied into it (carried tail + read), its first coarse chunk, whether it freed the previous buffer's tail, its pieces (reference count over its life).</summary>
    public long[] BlockCopyBytes { get; }
    public int[] BlockFirstCoarse { get; }
    public bool[] BlockFreesPrevious { get; }
    public int[] BlockRefs { get; }

    /// <summary>Per coarse chunk: bytes, bytes Fragment's <c>rabinseg</c> scanned to find its end, its buffer, its fine chunks.</summary>
    public long[] CoarseBytes { get; }
    public long[] CoarseScanBytes { get; }
    public int[] CoarseBlock { get; }
    public int[] CoarseFirst { get; }
    public int[] CoarseCount { get; }

    /// <summary>Per fine chunk (in stream order, the order Reorder writes): bytes, content id, buffer.</summary>
    public int[] Size { get; }
    public int[] Content { get; }
    public int[] ChunkBlock { get; }

    public int ContentCount { get; }
    public int Chunks => Size.Length;
    public int CoarseChunks => CoarseBytes.Length;
    public int Blocks => BlockCopyBytes.Length;
}
