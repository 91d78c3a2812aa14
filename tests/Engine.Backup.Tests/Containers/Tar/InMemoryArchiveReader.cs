using System.Runtime.CompilerServices;
using Engine.Backup.Containers;

namespace Engine.Backup.Tests.Containers.Tar;

/// <summary>
/// A container archive held in memory: the writer's input, not its peer (GNU tar is the peer). Content arrays cover
/// the whole logical size, holes as zeros. <see cref="DeliverOnly"/> makes one file's content end early.
/// </summary>
internal sealed class InMemoryArchiveReader(IReadOnlyList<ContainerEntry> entries, IReadOnlyDictionary<string, byte[]> content)
    : IContainerArchiveReader
{
    /// <summary>Path and byte count: that file's content ends there, whatever its size says.</summary>
    public (string Path, long Length)? DeliverOnly { get; init; }

    /// <summary>Serves zeros for files without content, up to their size (for sizes no array can hold).</summary>
    public bool Zeros { get; init; }

    /// <summary>Content bytes handed out, per path (to see that holes are not read).</summary>
    public Dictionary<string, long> BytesRead { get; } = [];

    public async IAsyncEnumerable<ContainerEntry> EntriesAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var entry in entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await Task.Yield();
            yield return entry;
        }
    }

    public ValueTask<int> ReadFileAsync(ContainerEntry entry, long offset, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (Zeros && !content.ContainsKey(entry.Path))
        {
            var zeros = (int)Math.Clamp(entry.Size - offset, 0, destination.Length);
            destination.Span[..zeros].Clear();
            return ValueTask.FromResult(zeros);
        }

        var data = content[entry.Path];
        long end = data.Length;
        if (DeliverOnly is { } cut && cut.Path == entry.Path)
        {
            end = cut.Length;
        }

        if (offset >= end)
        {
            return ValueTask.FromResult(0);
        }

        var count = (int)Math.Min(destination.Length, end - offset);
        data.AsSpan((int)offset, count).CopyTo(destination.Span);
        BytesRead[entry.Path] = BytesRead.GetValueOrDefault(entry.Path) + count;
        return ValueTask.FromResult(count);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
