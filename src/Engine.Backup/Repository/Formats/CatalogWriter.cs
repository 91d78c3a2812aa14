using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using Engine.Backup.Containers;
using Engine.Backup.Repository.Chunks;

namespace Engine.Backup.Repository.Formats;

/// <summary>
/// Streams a catalog (see <see cref="CatalogFormat"/>) to a file entry by entry, hashing as it goes, so memory does
/// not grow with the number of files.
/// </summary>
internal sealed class CatalogWriter : IDisposable
{
    private const int FlushThreshold = 256 << 10;

    private readonly FileStream _file;
    private readonly XxHash3 _hash = new();
    private byte[] _buffer = new byte[FlushThreshold * 2];
    private int _used;
    private bool _completed;

    public CatalogWriter(string path)
    {
        Path = path;
        _file = new FileStream(RepositoryFiles.CreateNew(path), FileAccess.Write, bufferSize: 0); // private (0600), like every repository file
        CatalogFormat.Magic.CopyTo(Reserve(8));
        WriteUInt32(CatalogFormat.Version);
        WriteUInt32(0);
    }

    public string Path { get; }

    public long Entries { get; private set; }

    public long Files { get; private set; }

    public long Bytes { get; private set; }

    /// <summary>
    /// Appends one entry; a regular file's data begins at <paramref name="dataStart"/> of the data stream (at or after
    /// the previous file's end: files' data is laid out in archive order). An entry without an identity is written
    /// with zeros there, which never match a file the walk sees (every inode has a ctime after 1970).
    /// </summary>
    public void Write(ContainerEntry entry, long dataStart)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        WriteByte(CatalogFormat.EntryTag);
        WriteByte((byte)entry.Kind);
        WriteUInt32((uint)entry.Mode);
        WriteInt64(entry.Uid);
        WriteInt64(entry.Gid);
        WriteInt64(entry.ModificationTimeNs);
        WriteInt64(entry.Size);
        WriteUInt32((uint)entry.DeviceMajor);
        WriteUInt32((uint)entry.DeviceMinor);
        var identity = entry.Identity ?? default;
        WriteInt64(identity.ChangeTimeNs);
        WriteInt64((long)identity.Inode);
        WriteInt64((long)identity.Device);
        WriteString(entry.Path);
        WriteString(entry.LinkTarget);
        WriteUInt32((uint)entry.Xattrs.Count);
        foreach (var xattr in entry.Xattrs)
        {
            WriteString(xattr.Name);
            WriteUInt32((uint)xattr.Value.Length);
            xattr.Value.Span.CopyTo(Reserve(xattr.Value.Length));
        }

        if (entry.DataExtents is { } extents)
        {
            WriteUInt32((uint)extents.Count);
            foreach (var extent in extents)
            {
                WriteInt64(extent.Offset);
                WriteInt64(extent.Length);
            }
        }
        else
        {
            WriteUInt32(uint.MaxValue);
        }

        WriteInt64(entry.Kind == ContainerEntryKind.RegularFile ? dataStart : 0);
        Entries++;
        if (entry.Kind == ContainerEntryKind.RegularFile)
        {
            Files++;
            Bytes += entry.Size;
        }

        if (_used >= FlushThreshold)
        {
            Flush();
        }
    }

    /// <summary>
    /// Writes the end record with the chunks that cut the data stream, and the trailer; returns the checksum (16 hex
    /// digits) for the manifest.
    /// </summary>
    public string Complete(IReadOnlyList<FileChunk> chunks)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        long streamLength = 0;
        foreach (var chunk in chunks)
        {
            streamLength += chunk.Length;
        }

        WriteByte(CatalogFormat.EndTag);
        WriteInt64(Entries);
        WriteInt64(Files);
        WriteInt64(streamLength);
        WriteInt64(chunks.Count);
        foreach (var chunk in chunks)
        {
            WriteUInt32((uint)chunk.Length);
            chunk.Digest.CopyTo(Reserve(ChunkDigest.Length));
            if (_used >= FlushThreshold)
            {
                Flush();
            }
        }

        Flush();
        var checksum = _hash.GetCurrentHashAsUInt64();
        Span<byte> trailer = stackalloc byte[sizeof(ulong)];
        BinaryPrimitives.WriteUInt64LittleEndian(trailer, checksum);
        _file.Write(trailer);
        _file.Flush();
        _completed = true;
        _file.Dispose();
        return checksum.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
    }

    public void Dispose()
    {
        _completed = true;
        _file.Dispose();
    }

    private void Flush()
    {
        var bytes = _buffer.AsSpan(0, _used);
        _hash.Append(bytes);
        _file.Write(bytes);
        _used = 0;
    }

    private Span<byte> Reserve(int length)
    {
        if (_used + length > _buffer.Length)
        {
            Flush();
            if (length > _buffer.Length)
            {
                _buffer = new byte[length];
            }
        }

        var span = _buffer.AsSpan(_used, length);
        _used += length;
        return span;
    }

    private void WriteByte(byte value) => Reserve(1)[0] = value;

    private void WriteUInt32(uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Reserve(4), value);

    private void WriteInt64(long value) => BinaryPrimitives.WriteInt64LittleEndian(Reserve(8), value);

    private void WriteString(string? value)
    {
        if (value is null)
        {
            WriteUInt32(CatalogFormat.NullString);
            return;
        }

        var length = Encoding.UTF8.GetByteCount(value);
        WriteUInt32((uint)length);
        Encoding.UTF8.GetBytes(value, Reserve(length));
    }
}
