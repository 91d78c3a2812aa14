namespace Engine.Blocks;

/// <summary>
/// A reusable, growable list of consecutive extents. Adjacent extents with equal flags are merged as they are
/// added, so a caller that walks a device in pieces still gets the minimal description. Not thread-safe:
/// each request or connection keeps its own.
/// </summary>
public sealed class ExtentList
{
    private Extent[] _items;

    /// <summary>Creates an empty list.</summary>
    public ExtentList(int capacity = 16) => _items = new Extent[Math.Max(capacity, 1)];

    /// <summary>Number of extents.</summary>
    public int Count { get; private set; }

    /// <summary>Extents in offset order.</summary>
    public ReadOnlySpan<Extent> AsSpan() => _items.AsSpan(0, Count);

    /// <summary>Offset one past the last extent, or -1 when empty.</summary>
    public long End => Count == 0 ? -1 : _items[Count - 1].End;

    /// <summary>Forgets all extents but keeps the storage.</summary>
    public void Clear() => Count = 0;

    /// <summary>Appends an extent; it must start where the previous one ended.</summary>
    /// <exception cref="ArgumentException">The extent is empty or not contiguous with the previous one.</exception>
    public void Add(long offset, long length, ExtentFlags flags)
    {
        if (length <= 0)
        {
            throw new ArgumentException($"extent at {offset} has length {length}", nameof(length));
        }

        if (Count > 0)
        {
            ref var last = ref _items[Count - 1];
            if (last.End != offset)
            {
                throw new ArgumentException($"extent at {offset} does not follow the previous one ending at {last.End}", nameof(offset));
            }

            if (last.Flags == flags)
            {
                last = last with { Length = last.Length + length };
                return;
            }
        }

        if (Count == _items.Length)
        {
            Array.Resize(ref _items, _items.Length * 2);
        }

        _items[Count++] = new Extent(offset, length, flags);
    }
}
