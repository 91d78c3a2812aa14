using System.Buffers;
using System.Text;
using Engine.Blocks.Tar;

namespace Engine.Backup.Containers.Tar;

/// <summary>
/// Streams a container archive as a POSIX pax tar that Proxmox VE's restore extracts with GNU tar
/// (<c>tar xpf - --totals --one-file-system -p --sparse --numeric-owner --acls --xattrs
/// --xattrs-include=user.* --xattrs-include=security.capability ... --anchored --exclude ./dev/*</c>).
/// Every member is named <c>./PATH</c> (the root is <c>./</c>, directories end in <c>/</c>) so the anchored
/// exclude matches; owners are numeric with empty names; long names, big sizes and ids and nanosecond mtimes go into
/// pax records; xattrs become <c>SCHILY.xattr.*</c>, POSIX ACLs <c>SCHILY.acl.*</c> text and sparse files GNU's pax
/// sparse format 1.0. Content is read through <see cref="IContainerArchiveReader.ReadFileAsync"/> straight into one
/// pooled 1 MiB buffer; no file is ever held whole.
/// </summary>
/// <remarks>
/// <para>
/// Why not <c>System.Formats.Tar</c>: <c>PaxTarEntry.ExtendedAttributes</c> is a string-to-string dictionary written
/// as UTF-8, so binary xattr values (<c>security.capability</c>, most <c>user.*</c> values that are not text) cannot be
/// stored byte for byte; its timestamps are <see cref="DateTimeOffset"/> (100 ns ticks), so nanosecond mtimes are
/// rounded; and it adds <c>atime</c>/<c>ctime</c> records we have no values for. GNU sparse 1.0 would have to be
/// built by hand on top of it anyway. The ustar/pax encoding is small, so it is written here
/// (<see cref="UstarHeader"/>, <see cref="PaxRecords"/>).
/// </para>
/// <para>
/// ACLs: GNU tar 1.34 (Debian 12) archives an ACL twice, as <c>SCHILY.acl.access</c>/<c>default</c> text and, under
/// <c>--xattrs</c>, as the raw <c>SCHILY.xattr.system.posix_acl_*</c> record. On extraction (checked with 1.34 on an
/// archive whose two forms disagree) <c>--acls</c> applies the text form after the xattrs, so it wins; PVE's
/// <c>--xattrs-include=user.* --xattrs-include=security.capability</c> filters the raw form out anyway; the raw form
/// only counts without <c>--acls</c> and with an include pattern that admits <c>system.*</c>. So only the text form
/// is written: one representation, switched by <c>--acls</c>. It is comma-separated with numeric ids (1.34 itself
/// writes names, one entry a line); <c>acl_from_text</c> takes both, and ids keep the container's owners whatever
/// names the host has.
/// </para>
/// <para>
/// Names: a name longer than 100 bytes or not plain ASCII also goes into a pax <c>path</c> record, as GNU tar does;
/// GNU tar turns it into the locale's charset on extraction and keeps the bytes when it cannot (the C locale), so
/// UTF-8 names arrive intact either way. The archive order is the reader's: GNU tar sets a directory's mtime once
/// it has moved past the directory, so a reader should yield each directory's members right after it, as a
/// directory walk does.
/// </para>
/// <para>
/// Unix sockets are skipped: GNU tar skips them when archiving ("socket ignored") and cannot create them on
/// extraction, so PVE's restore never sees one either.
/// </para>
/// </remarks>
public sealed class ContainerTarWriter
{
    /// <summary>The staging buffer: headers are encoded and file content is read into it.</summary>
    internal const int BufferSize = 1 << 20;

    /// <summary>Smallest read worth issuing: below this much free room the buffer is flushed first.</summary>
    private const int MinimumRead = 64 << 10;

    private readonly IContainerArchiveReader _reader;
    private readonly TarBlockWriter _output;
    private readonly PaxRecords _pax = new();
    private readonly GnuSparseMap _sparse = new();
    private readonly ArrayBufferWriter<byte> _name = new(256);
    private readonly ArrayBufferWriter<byte> _linkName = new(256);
    private readonly ArrayBufferWriter<byte> _scratch = new(256);
    private long _members;
    private long _skippedSockets;

    private ContainerTarWriter(IContainerArchiveReader reader, TarBlockWriter output)
    {
        _reader = reader;
        _output = output;
    }

    /// <summary>
    /// Writes every entry of <paramref name="reader"/> to <paramref name="destination"/> as a pax tar, ending with the
    /// two zero blocks. The destination is written sequentially and never sought, so a pipe will do.
    /// </summary>
    /// <exception cref="InvalidDataException">
    /// An entry cannot be archived: its content is shorter than its size, its ACL or extents are malformed, or its
    /// device numbers do not fit. The message names the entry's path.
    /// </exception>
    public static async Task<ContainerTarSummary> WriteAsync(
        IContainerArchiveReader reader, Stream destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(destination);
        using var output = new TarBlockWriter(destination, BufferSize);
        var writer = new ContainerTarWriter(reader, output);
        await foreach (var entry in reader.EntriesAsync(cancellationToken).WithCancellation(cancellationToken))
        {
            await writer.WriteMemberAsync(entry, cancellationToken);
        }

        await output.WriteZerosAsync(2 * UstarLayout.BlockSize, cancellationToken);
        await output.FlushAsync(cancellationToken);
        await destination.FlushAsync(cancellationToken);
        return new ContainerTarSummary(writer._members, writer._skippedSockets, output.Position);
    }

    /// <summary>
    /// Writes the tar to the regular file <paramref name="path"/> durably: under a temporary name beside it, fsynced,
    /// then renamed over <paramref name="path"/> and the directory fsynced. A failure leaves no partial file behind.
    /// </summary>
    public static async Task<ContainerTarSummary> WriteFileAsync(
        IContainerArchiveReader reader, string path, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var target = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(target) ?? "/";
        var temporary = Path.Combine(directory, $".{Path.GetFileName(target)}.tmp-{Guid.NewGuid():N}");
        ContainerTarSummary summary;
        try
        {
            // No FileStream buffering: the writer already hands over 1 MiB at a time.
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, BufferSize = 0 };
            await using (var file = new FileStream(temporary, options))
            {
                summary = await WriteAsync(reader, file, cancellationToken);
                file.Flush(flushToDisk: true);
            }

            File.Move(temporary, target, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }

        RepositoryCalls.FSyncDirectory(directory);
        return summary;
    }

    private async ValueTask WriteMemberAsync(ContainerEntry entry, CancellationToken cancellationToken)
    {
        if (entry.Kind == ContainerEntryKind.Socket)
        {
            _skippedSockets++;
            return;
        }

        EncodeNames(entry);
        var sparse = entry.Kind == ContainerEntryKind.RegularFile && _sparse.TryBuild(entry);
        var storedSize = entry.Kind != ContainerEntryKind.RegularFile ? 0
            : sparse ? _sparse.MapLength + _sparse.DataLength
            : entry.Size;
        var seconds = Math.DivRem(entry.ModificationTimeNs, 1_000_000_000, out var fraction);
        if (fraction < 0)
        {
            seconds--;
        }

        CollectPaxRecords(entry, sparse, storedSize, seconds, fraction != 0);
        if (_pax.Length > 0)
        {
            await WritePaxHeaderAsync(seconds, cancellationToken);
        }

        var header = (await _output.ReserveAsync(UstarLayout.BlockSize, cancellationToken)).Span;
        UstarHeader.Write(header, new UstarFields
        {
            Name = sparse ? SparseStandInName() : _name.WrittenSpan,
            Mode = entry.Mode & 0xFFF,
            Uid = entry.Uid,
            Gid = entry.Gid,
            Size = storedSize,
            ModificationTime = seconds,
            TypeFlag = TypeFlagOf(entry),
            LinkName = _linkName.WrittenSpan,
            DeviceMajor = entry.DeviceMajor,
            DeviceMinor = entry.DeviceMinor,
        });
        _output.Advance(UstarLayout.BlockSize);
        _members++;

        if (sparse)
        {
            await _sparse.WriteAsync(_output, cancellationToken);
            foreach (var region in _sparse.Regions)
            {
                await CopyContentAsync(entry, region.Offset, region.Length, cancellationToken);
            }
        }
        else if (storedSize > 0)
        {
            await CopyContentAsync(entry, 0, entry.Size, cancellationToken);
        }

        await _output.PadToBlockAsync(cancellationToken);
    }

    /// <summary>The archive name (<c>./PATH</c>, <c>./</c> for the root, a <c>/</c> after directories) and link name.</summary>
    private void EncodeNames(ContainerEntry entry)
    {
        if (entry.Path.Length == 0 || entry.Path[0] == '/')
        {
            throw new InvalidDataException($"'{entry.Path}': archive paths are relative and not empty");
        }

        _name.ResetWrittenCount();
        if (entry.Path != ".")
        {
            _name.Write("./"u8);
            Append(_name, entry.Path);
        }

        if (entry.Kind == ContainerEntryKind.Directory && (_name.WrittenCount == 0 || _name.WrittenSpan[^1] != '/'))
        {
            _name.Write(entry.Path == "." ? "./"u8 : "/"u8);
        }

        _linkName.ResetWrittenCount();
        switch (entry.Kind)
        {
            case ContainerEntryKind.Symlink:
                Append(_linkName, entry.LinkTarget ?? throw MissingLinkTarget(entry));
                break;
            case ContainerEntryKind.HardLink:
                // A hard link names another member, so it carries that member's archive name.
                _linkName.Write("./"u8);
                Append(_linkName, entry.LinkTarget ?? throw MissingLinkTarget(entry));
                break;
            case ContainerEntryKind.CharacterDevice or ContainerEntryKind.BlockDevice:
                if (!UstarNumber.FitsOctal(entry.DeviceMajor, UstarLayout.ShortFieldLength)
                    || !UstarNumber.FitsOctal(entry.DeviceMinor, UstarLayout.ShortFieldLength))
                {
                    // GNU tar has no pax record for device numbers.
                    throw new InvalidDataException($"{entry.Path}: device {entry.DeviceMajor}:{entry.DeviceMinor} does not fit a tar header");
                }

                break;
        }
    }

    private void CollectPaxRecords(ContainerEntry entry, bool sparse, long storedSize, long seconds, bool hasFraction)
    {
        _pax.Clear();

        // Like GNU tar in pax format: a name goes into a record when it is too long or not plain ASCII.
        if (!sparse && NeedsRecord(_name.WrittenSpan))
        {
            _pax.Add("path"u8, _name.WrittenSpan);
        }

        if (NeedsRecord(_linkName.WrittenSpan))
        {
            _pax.Add("linkpath"u8, _linkName.WrittenSpan);
        }

        // GNU tar decodes GNU.sparse.realsize after size, so size must come first.
        if (!UstarNumber.FitsOctal(storedSize, UstarLayout.LongFieldLength))
        {
            _pax.Add("size"u8, storedSize);
        }

        if (!UstarNumber.FitsOctal(entry.Uid, UstarLayout.ShortFieldLength))
        {
            _pax.Add("uid"u8, entry.Uid);
        }

        if (!UstarNumber.FitsOctal(entry.Gid, UstarLayout.ShortFieldLength))
        {
            _pax.Add("gid"u8, entry.Gid);
        }

        if (hasFraction || !UstarNumber.FitsOctal(seconds, UstarLayout.LongFieldLength))
        {
            _pax.AddTime("mtime"u8, entry.ModificationTimeNs);
        }

        if (sparse)
        {
            _pax.Add("GNU.sparse.major"u8, 1);
            _pax.Add("GNU.sparse.minor"u8, 0);
            _pax.Add("GNU.sparse.name"u8, _name.WrittenSpan);
            _pax.Add("GNU.sparse.realsize"u8, entry.Size);
        }

        foreach (var xattr in entry.Xattrs)
        {
            switch (xattr.Name)
            {
                case PosixAclText.AccessXattr:
                    // GNU tar never applies an ACL to a symlink (Linux has none).
                    if (entry.Kind != ContainerEntryKind.Symlink)
                    {
                        AddAcl("SCHILY.acl.access"u8, entry, xattr);
                    }

                    break;
                case PosixAclText.DefaultXattr:
                    if (entry.Kind == ContainerEntryKind.Directory)
                    {
                        AddAcl("SCHILY.acl.default"u8, entry, xattr);
                    }

                    break;
                default:
                    _pax.AddXattr(xattr.Name, xattr.Value.Span);
                    break;
            }
        }
    }

    private void AddAcl(ReadOnlySpan<byte> key, ContainerEntry entry, ContainerXattr xattr)
    {
        _scratch.ResetWrittenCount();
        PosixAclText.Format(xattr.Value.Span, _scratch, entry.Path);
        if (_scratch.WrittenCount > 0)
        {
            _pax.Add(key, _scratch.WrittenSpan);
        }
    }

    /// <summary>The <c>x</c> member carrying this entry's records, named <c>DIR/PaxHeaders/NAME</c> as GNU tar names them.</summary>
    private async ValueTask WritePaxHeaderAsync(long seconds, CancellationToken cancellationToken)
    {
        var header = (await _output.ReserveAsync(UstarLayout.BlockSize, cancellationToken)).Span;
        UstarHeader.Write(header, new UstarFields
        {
            Name = NameWithDirectoryInserted("PaxHeaders/"u8),
            Mode = 0x1A4, // 0644
            Size = _pax.Length,
            ModificationTime = seconds,
            TypeFlag = UstarLayout.PaxExtendedHeader,
        });
        _output.Advance(UstarLayout.BlockSize);
        await _output.WriteAsync(_pax.Written, cancellationToken);
        await _output.PadToBlockAsync(cancellationToken);
    }

    /// <summary>
    /// The ustar name of a sparse member, <c>DIR/GNUSparseFile.0/NAME</c> as GNU tar writes it: a tar that does not
    /// know the format extracts the condensed data there instead of over the real file.
    /// </summary>
    private ReadOnlySpan<byte> SparseStandInName() => NameWithDirectoryInserted("GNUSparseFile.0/"u8);

    /// <summary>The member's name with <paramref name="directory"/> put between its parent and its last component.</summary>
    private ReadOnlySpan<byte> NameWithDirectoryInserted(ReadOnlySpan<byte> directory)
    {
        var name = _name.WrittenSpan;
        if (name.Length > 1 && name[^1] == '/')
        {
            name = name[..^1];
        }

        var lastStart = name.LastIndexOf((byte)'/') + 1;
        _scratch.ResetWrittenCount();
        _scratch.Write(name[..lastStart]);
        _scratch.Write(directory);
        _scratch.Write(name[lastStart..]);
        return _scratch.WrittenSpan;
    }

    /// <summary>
    /// Reads <paramref name="length"/> bytes of content from <paramref name="offset"/> into the output buffer. The
    /// reader returns short only at the end of the file, so running out before the range ends means the archive holds
    /// less than the entry's size: an error, never a silently truncated member.
    /// </summary>
    private async ValueTask CopyContentAsync(ContainerEntry entry, long offset, long length, CancellationToken cancellationToken)
    {
        var position = offset;
        var end = offset + length;
        while (position < end)
        {
            var free = await _output.ReserveAsync((int)Math.Min(end - position, MinimumRead), cancellationToken);
            var chunk = free[..(int)Math.Min(free.Length, end - position)];
            var read = await _reader.ReadFileAsync(entry, position, chunk, cancellationToken);
            if (read <= 0 || read > chunk.Length)
            {
                throw new InvalidDataException(
                    $"{entry.Path}: content ended at byte {position} but the entry's size is {entry.Size} (the archive is short; refusing to write a truncated member)");
            }

            _output.Advance(read);
            position += read;
        }
    }

    private static bool NeedsRecord(ReadOnlySpan<byte> name) =>
        name.Length > UstarLayout.NameLength || !Ascii.IsValid(name);

    private static byte TypeFlagOf(ContainerEntry entry) => entry.Kind switch
    {
        ContainerEntryKind.Directory => UstarLayout.Directory,
        ContainerEntryKind.RegularFile => UstarLayout.RegularFile,
        ContainerEntryKind.Symlink => UstarLayout.Symlink,
        ContainerEntryKind.HardLink => UstarLayout.HardLink,
        ContainerEntryKind.CharacterDevice => UstarLayout.CharacterDevice,
        ContainerEntryKind.BlockDevice => UstarLayout.BlockDevice,
        ContainerEntryKind.Fifo => UstarLayout.Fifo,
        _ => throw new InvalidDataException($"{entry.Path}: entry kind {entry.Kind} has no tar type"),
    };

    private static void Append(ArrayBufferWriter<byte> into, string text)
    {
        var span = into.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        into.Advance(Encoding.UTF8.GetBytes(text, span));
    }

    private static InvalidDataException MissingLinkTarget(ContainerEntry entry) =>
        new($"{entry.Path}: {entry.Kind} without a link target");
}
