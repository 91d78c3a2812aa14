namespace Engine.Blocks;

/// <summary>Options on writes and trims.</summary>
[Flags]
public enum WriteFlags
{
    /// <summary>No options.</summary>
    None = 0,
    /// <summary>Force unit access: the data is durable before the call returns.</summary>
    Fua = 1,
}

/// <summary>Options on <see cref="IBlockDevice.WriteZeroesAsync"/>.</summary>
[Flags]
public enum WriteZeroesFlags
{
    /// <summary>Zero the range; keep it allocated.</summary>
    None = 0,
    /// <summary>Force unit access.</summary>
    Fua = 1,
    /// <summary>The device may deallocate the range (punch a hole) as long as it reads back as zeroes.</summary>
    MayPunchHole = 2,
    /// <summary>Fail with <c>ENOTSUP</c> unless zeroing is faster than writing zeroes.</summary>
    FastOnly = 4,
}
