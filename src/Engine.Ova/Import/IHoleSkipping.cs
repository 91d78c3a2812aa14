namespace Engine.Ova.Import;

/// <summary>
/// A stream that can tell it is inside a hole (bytes known to be zero: a gap of a GNU sparse member) and step over it
/// without producing the zeros, so the raw copier leaves a hole of a terabyte in no time.
/// </summary>
internal interface IHoleSkipping
{
    /// <summary>Zero bytes from the current position that may be skipped unread; 0 when the next byte must be read.</summary>
    long HoleAhead { get; }

    /// <summary>Moves past <paramref name="count"/> bytes (at most <see cref="HoleAhead"/>).</summary>
    void SkipHole(long count);
}
