using System.Buffers.Binary;

namespace Engine.Qcow2.Reading;

/// <summary>
/// A bounded set of decoded L2 tables, keyed by file offset, replaced by the clock algorithm. Readers copy the few
/// entries they need under a short lock, so a table can be replaced the moment nobody holds the lock and the hot path
/// allocates nothing.
/// </summary>
internal sealed class L2Cache
{
    private readonly Lock _lock = new();
    private readonly Dictionary<long, int> _slotByOffset;
    private readonly ulong[]?[] _tables;
    private readonly long[] _offsets;
    private readonly bool[] _referenced;
    private readonly int _wordsPerTable;
    private int _hand;

    /// <param name="slots">Tables kept at most.</param>
    /// <param name="wordsPerTable">64-bit words in one table (cluster size / 8).</param>
    public L2Cache(int slots, int wordsPerTable)
    {
        _tables = new ulong[]?[slots];
        _offsets = new long[slots];
        _referenced = new bool[slots];
        _slotByOffset = new Dictionary<long, int>(slots);
        _wordsPerTable = wordsPerTable;
        Array.Fill(_offsets, -1);
    }

    /// <summary>Copies words <c>[firstWord, firstWord + destination.Length)</c> of the table at <paramref name="l2Offset"/>, if cached.</summary>
    public bool TryCopy(long l2Offset, int firstWord, Span<ulong> destination)
    {
        lock (_lock)
        {
            if (!_slotByOffset.TryGetValue(l2Offset, out var slot))
            {
                return false;
            }

            _referenced[slot] = true;
            _tables[slot].AsSpan(firstWord, destination.Length).CopyTo(destination);
            return true;
        }
    }

    /// <summary>Caches the table at <paramref name="l2Offset"/> from its big-endian bytes, replacing a table not used lately.</summary>
    public void Insert(long l2Offset, ReadOnlySpan<byte> table)
    {
        lock (_lock)
        {
            if (_slotByOffset.ContainsKey(l2Offset))
            {
                return;
            }

            var slot = Victim();
            if (_offsets[slot] >= 0)
            {
                _slotByOffset.Remove(_offsets[slot]);
            }

            var words = _tables[slot] ??= new ulong[_wordsPerTable];
            Decode(table, words);
            _offsets[slot] = l2Offset;
            _referenced[slot] = true;
            _slotByOffset.Add(l2Offset, slot);
        }
    }

    /// <summary>Decodes big-endian words into <paramref name="words"/>.</summary>
    public static void Decode(ReadOnlySpan<byte> table, Span<ulong> words)
    {
        for (var i = 0; i < words.Length; i++)
        {
            words[i] = BinaryPrimitives.ReadUInt64BigEndian(table[(i * 8)..]);
        }
    }

    private int Victim()
    {
        while (true)
        {
            var slot = _hand;
            _hand = (_hand + 1) % _offsets.Length;
            if (_offsets[slot] < 0 || !_referenced[slot])
            {
                return slot;
            }

            _referenced[slot] = false;
        }
    }
}
