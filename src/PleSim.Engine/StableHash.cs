using System.Text;

namespace PleSim.Engine;

/// <summary>
/// A hash of strings that is the same in every process and on every machine (64-bit FNV-1a over
/// UTF-8), unlike <c>string.GetHashCode()</c>, which .NET randomises per process.
/// </summary>
public static class StableHash
{
    public static ulong Of(string text)
    {
        ulong h = 14695981039346656037UL;
        Span<byte> buf = stackalloc byte[256];
        var bytes = Encoding.UTF8.GetByteCount(text) <= buf.Length
            ? buf[..Encoding.UTF8.GetBytes(text, buf)]
            : Encoding.UTF8.GetBytes(text);
        foreach (var b in bytes)
            h = (h ^ b) * 1099511628211UL;
        return h;
    }

    public static ulong Combine(ulong h, ulong value)
    {
        for (int i = 0; i < 8; i++)
        {
            h = (h ^ (value & 0xff)) * 1099511628211UL;
            value >>= 8;
        }
        return h;
    }
}
