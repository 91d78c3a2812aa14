using System.Globalization;
using System.Runtime.CompilerServices;

namespace Engine.Sources;

/// <summary>
/// Reads dirty regions in the text layout of <c>nbdinfo --map=qemu:dirty-bitmap:NAME</c> (offset, length, type,
/// description per line), which is how Proxmox VE derives <c>next-dirty-region</c> for the file-handle mechanism.
/// Lines whose type has bit 0 set are dirty.
/// </summary>
public static class DirtyMapReader
{
    /// <summary>Streams the dirty regions of a map file, merging adjacent ones and checking they ascend.</summary>
    /// <exception cref="FormatException">A line is malformed or out of order; the message names the file and line.</exception>
    public static async IAsyncEnumerable<SourceRange> ReadAsync(TextReader reader, string name, long volumeSize, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reader);
        long start = -1, end = -1, previousEnd = 0, lineNumber = 0;
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var (offset, length, type) = Parse(line, name, lineNumber);
            if (offset < previousEnd || offset > volumeSize - length)
            {
                throw new FormatException($"{name}:{lineNumber}: extent {offset}+{length} overlaps the previous one or ends past the volume size {volumeSize}");
            }

            previousEnd = offset + length;
            if ((type & 1) == 0 || length == 0)
            {
                continue;
            }

            if (offset == end)
            {
                end += length; // adjacent dirty extents become one read
                continue;
            }

            if (start >= 0)
            {
                yield return new SourceRange(start, end - start);
            }

            (start, end) = (offset, offset + length);
        }

        if (start >= 0)
        {
            yield return new SourceRange(start, end - start);
        }
    }

    private static (long Offset, long Length, long Type) Parse(string line, string name, long lineNumber)
    {
        Span<Range> fields = stackalloc Range[4];
        var span = line.AsSpan().Trim();
        var count = span.SplitAny(fields, " \t", StringSplitOptions.RemoveEmptyEntries);
        if (count < 3
            || !long.TryParse(span[fields[0]], NumberStyles.None, CultureInfo.InvariantCulture, out var offset)
            || !long.TryParse(span[fields[1]], NumberStyles.None, CultureInfo.InvariantCulture, out var length)
            || !long.TryParse(span[fields[2]], NumberStyles.None, CultureInfo.InvariantCulture, out var type))
        {
            throw new FormatException($"{name}:{lineNumber}: expected 'offset length type [description]', got '{line}'");
        }

        return (offset, length, type);
    }
}
