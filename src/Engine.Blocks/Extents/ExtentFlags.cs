namespace Engine.Blocks;

/// <summary>
/// Allocation status of an extent. The values equal the NBD <c>base:allocation</c> bits
/// (<c>NBD_STATE_HOLE</c>, <c>NBD_STATE_ZERO</c>) so the server sends them unchanged.
/// </summary>
[Flags]
public enum ExtentFlags : uint
{
    /// <summary>Allocated data.</summary>
    Data = 0,
    /// <summary>Not allocated (a hole).</summary>
    Hole = 1,
    /// <summary>Reads as zeroes.</summary>
    Zero = 2,
    /// <summary>A hole that reads as zeroes: the usual sparse region.</summary>
    HoleZero = Hole | Zero,
}
