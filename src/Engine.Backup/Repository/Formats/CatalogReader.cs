using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using Engine.Backup.Containers;
using Engine.Backup.Repository.Chunks;
using Engine.Sources;

namespace Engine.Backup.Repository.Formats;

/// <summary>
/// Reads a catalog (see <see cref="CatalogFormat"/>) whole, checked against its trailer and the manifest, either
/// into entries with their chunk lists or, for garbage collection and verify, only the digests it refers to.
/// </summary>
internal static class CatalogReader
{
    /// <summary>Every entry in archive order and the chunks of each regular file (by path).</summary>
    /// <exception cref="RepositoryCorruptException">Missing, truncated, damaged or not matching the manifest.</exception>
    public static Catalog Read(string path, string? expectedChecksum)
    {
        var catalog = new Catalog();
        Parse(path, expectedChecksum, catalog, null);
        return catalog;
    }

    /// <summary>Calls <paramref name="onDigest"/> for every non-zero chunk digest the catalog refers to (repeats included).</summary>
    /// <exception cref="RepositoryCorruptException">Missing, truncated, damaged or not matching the manifest.</exception>
    public static void ForEachDigest(string path, string? expectedChecksum, Action<ChunkDigest> onDigest) =>
        Parse(path, expectedChecksum, null, onDigest);

    private static void Parse(string path, string? expectedChecksum, Catalog? catalog, Action<ChunkDigest>? onDigest)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new RepositoryCorruptException(path, $"catalog {path} is missing", e);
        }

        var span = bytes.AsSpan();
        if (span.Length < CatalogFormat.HeaderSize + sizeof(ulong) || !span[..8].SequenceEqual(CatalogFormat.Magic))
        {
            throw Corrupt(path, "not an Engine catalog or truncated");
        }

        var checksum = BinaryPrimitives.ReadUInt64LittleEndian(span[^sizeof(ulong)..]);
        if (XxHash3.HashToUInt64(span[..^sizeof(ulong)]) != checksum)
        {
            throw Corrupt(path, "checksum mismatch (truncated or damaged)");
        }

        var text = checksum.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
        if (expectedChecksum is not null && !string.Equals(text, expectedChecksum, StringComparison.OrdinalIgnoreCase))
        {
            throw Corrupt(path, $"checksum {text} differs from the manifest's {expectedChecksum}");
        }

        var version = BinaryPrimitives.ReadUInt32LittleEndian(span[8..]);
        if (version is not (CatalogFormat.Version or CatalogFormat.VersionBackToBack))
        {
            throw Corrupt(path, $"unsupported catalog version {version}");
        }

        if (catalog is not null)
        {
            catalog.Version = version;
        }

        var cursor = new Cursor(path, bytes, CatalogFormat.HeaderSize, span.Length - sizeof(ulong));
        long entries = 0;
        long files = 0;
        long dataLength = 0;
        while (true)
        {
            var tag = cursor.Byte();
            if (tag == CatalogFormat.EndTag)
            {
                break;
            }

            if (tag != CatalogFormat.EntryTag)
            {
                throw Corrupt(path, $"unknown record tag {tag} at byte {cursor.Position - 1}");
            }

            var kind = (ContainerEntryKind)cursor.Byte();
            if (!Enum.IsDefined(kind))
            {
                throw Corrupt(path, $"unknown entry kind {(int)kind} at byte {cursor.Position - 1}");
            }

            var mode = (int)cursor.UInt32();
            var uid = cursor.Int64();
            var gid = cursor.Int64();
            var mtime = cursor.Int64();
            var size = cursor.Int64();
            var major = (int)cursor.UInt32();
            var minor = (int)cursor.UInt32();
            FileIdentity? identity = null;
            if (version != CatalogFormat.VersionBackToBack)
            {
                var changeTime = cursor.Int64();
                var inode = (ulong)cursor.Int64();
                var device = (ulong)cursor.Int64();
                identity = changeTime == 0 && inode == 0 ? null : new FileIdentity(changeTime, inode, device);
            }

            var decode = catalog is not null;
            var entryPath = cursor.String(decode) ?? throw Corrupt(path, $"entry without a path at byte {cursor.Position}");
            var link = cursor.String(decode);
            var xattrCount = cursor.Count(1);
            var xattrs = decode && xattrCount > 0 ? new ContainerXattr[xattrCount] : null;
            for (var i = 0; i < xattrCount; i++)
            {
                var name = cursor.String(decode);
                var value = cursor.Bytes();
                if (xattrs is not null)
                {
                    xattrs[i] = new ContainerXattr(name ?? throw Corrupt(path, "xattr without a name"), value.ToArray());
                }
            }

            List<SourceRange>? extents = null;
            var extentCount = cursor.UInt32();
            var fileData = kind == ContainerEntryKind.RegularFile ? size : 0;
            if (extentCount != uint.MaxValue)
            {
                var count = cursor.Count(16, (int)Math.Min(extentCount, int.MaxValue));
                extents = decode ? new List<SourceRange>(count) : null;
                fileData = 0;
                var previousEnd = 0L;
                for (var i = 0; i < count; i++)
                {
                    var offset = cursor.Int64();
                    var length = cursor.Int64();
                    if (offset < previousEnd || length <= 0 || length > size - offset)
                    {
                        throw Corrupt(path, $"{entryPath}: data extent {offset}+{length} out of order or outside its {size} bytes");
                    }

                    previousEnd = offset + length;
                    fileData += length;
                    extents?.Add(new SourceRange(offset, length));
                }
            }

            var dataStart = cursor.Int64();
            // Version 1 lays files back to back; version 2 allows a gap (a reused chunk's dead bytes), never an overlap.
            var misplaced = version == CatalogFormat.VersionBackToBack ? dataStart != dataLength : dataStart < dataLength;
            if (size < 0 || (kind == ContainerEntryKind.RegularFile && misplaced) || (kind != ContainerEntryKind.RegularFile && (dataStart != 0 || extents is not null)))
            {
                throw Corrupt(path, $"{entryPath}: data at {dataStart} (size {size}), the data stream is at {dataLength}");
            }

            if (kind == ContainerEntryKind.RegularFile)
            {
                if (fileData > long.MaxValue - dataStart)
                {
                    // Wrapped around, the data stream's length could match a short chunk list.
                    throw Corrupt(path, $"{entryPath}: {fileData} bytes of data after {dataStart} overflow the data stream");
                }

                dataLength = dataStart + fileData;
            }
            entries++;
            if (kind == ContainerEntryKind.RegularFile)
            {
                files++;
            }

            catalog?.Add(new ContainerEntry
            {
                Path = entryPath,
                Kind = kind,
                Mode = mode,
                Uid = uid,
                Gid = gid,
                ModificationTimeNs = mtime,
                Size = size,
                LinkTarget = link,
                DeviceMajor = major,
                DeviceMinor = minor,
                Xattrs = xattrs ?? [],
                DataExtents = extents,
                Identity = identity,
            }, dataStart);
        }

        if (cursor.Int64() != entries || cursor.Int64() != files)
        {
            throw Corrupt(path, "end record does not match the entries");
        }

        var streamLength = cursor.Int64();
        if (version == CatalogFormat.VersionBackToBack ? streamLength != dataLength : streamLength < dataLength)
        {
            throw Corrupt(path, $"end record's data stream of {streamLength} bytes does not hold the files' {dataLength}");
        }

        var chunkCount = cursor.Count(4 + ChunkDigest.Length, (int)Math.Min(cursor.Int64(), int.MaxValue));
        var chunks = catalog is not null ? new FileChunk[chunkCount] : null;
        long chunked = 0;
        for (var i = 0; i < chunkCount; i++)
        {
            var length = (int)cursor.UInt32();
            var digest = cursor.Digest();
            if (length <= 0 || length > ChunkStore.MaxChunkLength)
            {
                throw Corrupt(path, $"chunk {i} of {length} bytes");
            }

            chunked += length;
            if (!digest.IsZero)
            {
                onDigest?.Invoke(digest);
            }

            if (chunks is not null)
            {
                chunks[i] = new FileChunk(length, digest);
            }
        }

        if (chunked != streamLength || cursor.Position != cursor.End)
        {
            throw Corrupt(path, $"chunks cover {chunked} bytes of a {streamLength}-byte data stream");
        }

        catalog?.SetChunks(chunks!);
    }

    private static RepositoryCorruptException Corrupt(string path, string reason) => new(path, $"bad catalog {path}: {reason}");

    /// <summary>Reads fields from the catalog's bytes; anything running past the end is corruption.</summary>
    private sealed class Cursor(string path, byte[] bytes, int position, int end)
    {
        public int Position { get; private set; } = position;

        public int End { get; } = end;

        public byte Byte() => Take(1)[0];

        public uint UInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

        public long Int64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

        public ChunkDigest Digest() => ChunkDigest.Read(Take(ChunkDigest.Length));

        /// <summary>A count of records at least <paramref name="recordSize"/> bytes each: must fit in what is left.</summary>
        public int Count(int recordSize) => Count(recordSize, (int)Math.Min(UInt32(), int.MaxValue));

        public int Count(int recordSize, int count) =>
            count >= 0 && (long)count * recordSize <= End - Position ? count : throw Corrupt(path, $"count {count} at byte {Position} runs past the end");

        public string? String(bool decode)
        {
            var length = UInt32();
            if (length == CatalogFormat.NullString)
            {
                return null;
            }

            var span = Take(Count(1, (int)Math.Min(length, int.MaxValue)));
            return decode ? Encoding.UTF8.GetString(span) : "";
        }

        public ReadOnlySpan<byte> Bytes() => Take(Count(1));

        private ReadOnlySpan<byte> Take(int length)
        {
            if (length > End - Position)
            {
                throw Corrupt(path, $"truncated record at byte {Position}");
            }

            var span = bytes.AsSpan(Position, length);
            Position += length;
            return span;
        }
    }
}
