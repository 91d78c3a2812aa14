using System.Runtime.InteropServices;

namespace Engine.Blocks.Native;

/// <summary>Linux <c>struct timespec</c> on 64-bit targets, for <c>utimensat</c> and <c>futimens</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal readonly record struct TimeSpec(long Seconds, long Nanoseconds)
{
    /// <summary>Floor division, so times before 1970 keep a nanosecond part in 0..999999999.</summary>
    public static TimeSpec FromNanoseconds(long nanoseconds)
    {
        var seconds = Math.DivRem(nanoseconds, 1_000_000_000L, out var rest);
        return rest < 0 ? new TimeSpec(seconds - 1, rest + 1_000_000_000L) : new TimeSpec(seconds, rest);
    }
}
