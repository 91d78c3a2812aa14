using System.IO.Compression;
using Engine.Blocks;
using Engine.Ova.Manifest;
using Engine.Ova.Ovf;
using Engine.Ova.Tar;
using Engine.Ova.Vmdk;

namespace Engine.Ova.Import;

/// <summary>
/// Imports an OVA in one pass over its data: each disk member is converted while it streams past (streamOptimized
/// and monolithicSparse VMDK, raw; chunked and gzip files joined and inflated on the way) and written straight to
/// a sparse raw file in the target folder. Digests from the manifest are checked on the same pass. Outputs live
/// under temporary names until everything has been verified; any failure deletes them.
/// </summary>
/// <remarks>
/// A seekable archive is first indexed (headers only), so the descriptor and manifest may sit anywhere. A pipe is
/// read strictly once: its descriptor must precede the disks (as DSP0243 requires); a manifest after the disks is
/// still checked, by hashing with every algorithm until it arrives.
/// </remarks>
public sealed class OvaImporter
{
    private readonly string _sourceName;
    private readonly OvaImportOptions _options;
    private readonly List<OutputFile> _outputs = [];
    private readonly List<ImportedDisk> _results = [];
    private readonly List<(string Name, MemberDigest Digest, int Result)> _pendingDigests = [];
    private readonly List<string> _skippedBeforeDescriptor = [];
    private readonly List<string> _unsafeNames = [];
    private bool _abandoned;
    private OvaPackage? _package;
    private OvfManifest? _manifest;
    private string? _descriptorName;
    private byte[]? _descriptorBytes;
    private Dictionary<string, PlannedDisk>? _plan;
    private List<(OvfDiskAttachment Disk, string OutputName)>? _blankDisks;

    private OvaImporter(string sourceName, OvaImportOptions options)
    {
        _sourceName = sourceName;
        _options = options;
    }

    /// <summary>Imports from an archive stream (a file or a pipe).</summary>
    /// <param name="archive">The OVA, positioned at its start.</param>
    /// <param name="sourceName">Its name, for messages.</param>
    /// <param name="options">Target folder and choices.</param>
    /// <param name="cancellationToken">Cancels the import (outputs are deleted).</param>
    /// <returns>The disks written.</returns>
    /// <exception cref="OvaFormatException">The archive, descriptor, manifest or a disk is invalid or hostile.</exception>
    /// <exception cref="NotSupportedException">qcow2 output without a writer, or an inner format that cannot be converted yet.</exception>
    public static async Task<IReadOnlyList<ImportedDisk>> ImportAsync(Stream archive, string sourceName, OvaImportOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(archive);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Format == OvaOutputFormat.Qcow2 && !options.Extract && options.CreateImage is null)
        {
            throw new NotSupportedException("qcow2 output needs a qcow2 writer (OvaImportOptions.CreateImage); import to raw (--format raw)");
        }

        if (!Directory.Exists(options.TargetDirectory))
        {
            throw new DirectoryNotFoundException(File.Exists(options.TargetDirectory)
                ? $"target folder {options.TargetDirectory} is a file, not a folder"
                : $"target folder {options.TargetDirectory} does not exist");
        }

        var importer = new OvaImporter(sourceName, options);
        var abandon = cancellationToken.Register(importer.AbandonOutputs);
        try
        {
            await importer.RunAsync(archive, cancellationToken);
            return importer._results;
        }
        catch (Exception e) when (e is not OperationCanceledException && cancellationToken.IsCancellationRequested)
        {
            // The outputs vanished under the import (a read or rename failed because of it): report the cancellation.
            throw new OperationCanceledException("the import was cancelled", e, cancellationToken);
        }
        finally
        {
            await abandon.DisposeAsync();
            foreach (var output in importer._outputs)
            {
                await output.DisposeAsync();
            }
        }
    }

    private async Task RunAsync(Stream archive, CancellationToken cancellationToken)
    {
        if (archive.CanSeek)
        {
            _package = OvaPackage.Scan(archive, _sourceName);
            _manifest = _package.Manifest;
            AcceptDescriptor(_package.DescriptorName, _package.DescriptorBytes, _package.Descriptor);
            CheckMembersPresent();
        }

        using (var reader = new TarReader(archive, _sourceName, leaveOpen: true))
        {
            while (reader.Next() is { } entry)
            {
                cancellationToken.ThrowIfCancellationRequested();
                await VisitAsync(reader, entry, cancellationToken);
            }
        }

        if (_plan is null)
        {
            throw new OvaFormatException($"{_sourceName}: no .ovf descriptor in the archive (is it an OVA?)");
        }

        foreach (var planned in _plan.Values)
        {
            if (!planned.Done)
            {
                throw MissingMember(planned.MemberName);
            }
        }

        foreach (var (blank, outputName) in _blankDisks!)
        {
            await CreateBlankAsync(blank, outputName, cancellationToken);
        }

        VerifyLateDigests();
        await CommitAllAsync(cancellationToken);
    }

    private async Task VisitAsync(TarReader reader, TarEntry entry, CancellationToken cancellationToken)
    {
        var name = entry.SafeName;
        if (name is null)
        {
            if (_package is null)
            {
                _unsafeNames.Add(entry.Name);
            }

            return;
        }

        if (TarNames.IsAppleDouble(name))
        {
            return;
        }

        var regular = entry.IsFile;
        if (_package is null && regular && name.EndsWith(".ovf", StringComparison.OrdinalIgnoreCase))
        {
            if (_descriptorName is not null)
            {
                throw new OvaFormatException($"{_sourceName}: several descriptors ('{_descriptorName}', '{name}'); an OVA holds one");
            }

            var bytes = reader.ReadAll(OvfParser.MaxDescriptorBytes, "descriptor");
            AcceptDescriptor(name, bytes, OvfParser.Parse(bytes, $"{_sourceName}/{name}"));
            return;
        }

        if (_package is null && regular && _manifest is null && name.EndsWith(".mf", StringComparison.OrdinalIgnoreCase)
            && (_descriptorName is null || OvaPackage.FolderOf(name) == OvaPackage.FolderOf(_descriptorName)))
        {
            _manifest = OvfManifest.Parse(reader.ReadAll(OvfManifest.MaxBytes, "manifest"), name, OvaPackage.FolderOf(name));
            return;
        }

        if (_plan is null)
        {
            _skippedBeforeDescriptor.Add(name);
            return;
        }

        if (!_plan.TryGetValue(name, out var planned))
        {
            return;
        }

        if (planned.Done)
        {
            throw new OvaFormatException($"{_sourceName}: member '{name}' occurs more than once");
        }

        if (!regular)
        {
            var target = entry.LinkName is null ? string.Empty : $" pointing at '{entry.LinkName}'";
            throw new OvaFormatException($"{_sourceName}: disk file '{name}' is a {entry.Type}{target}, not a regular file; refused");
        }

        planned.Done = true;
        await ImportDiskAsync(reader, planned, cancellationToken);
    }

    private void AcceptDescriptor(string name, byte[] bytes, OvfDescriptor descriptor)
    {
        _descriptorName = name;
        _descriptorBytes = bytes;
        var system = SelectSystem(descriptor);
        var folder = OvaPackage.FolderOf(name);
        _plan = new Dictionary<string, PlannedDisk>(StringComparer.Ordinal);
        _blankDisks = [];
        var names = new OutputNames();
        var selected = 0;
        var position = 0;
        foreach (var disk in system.Disks)
        {
            position++;
            if (_options.Disk is not null && !Matches(disk, _options.Disk))
            {
                continue;
            }

            selected++;
            var outputName = names.For(disk, position, _options.Extract, "." + OutputFormat);
            if (disk.File is null)
            {
                _blankDisks.Add((disk, outputName));
                continue;
            }

            var member = OvaPackage.Join(folder, disk.File.ChunkSize is null ? disk.File.Href : disk.File.ChunkName(0));
            if (!_plan.TryAdd(member, new PlannedDisk(disk, member, outputName)))
            {
                throw new OvaFormatException($"{_sourceName}: file '{disk.File.Href}' is used by two disks; refused");
            }
        }

        if (selected == 0)
        {
            var choices = new List<string>();
            foreach (var disk in system.Disks)
            {
                choices.Add(disk.File is null ? disk.Address : $"{disk.Address} ({disk.File.Href})");
            }

            throw new OvaFormatException(_options.Disk is null
                ? $"{_sourceName}: the virtual system '{system.Id}' has no disks"
                : $"{_sourceName}: no disk matches '{_options.Disk}'; disks: {string.Join(", ", choices)}");
        }
    }

    private OvfVirtualSystem SelectSystem(OvfDescriptor descriptor)
    {
        if (_options.VirtualSystem is null)
        {
            return descriptor.VirtualSystems[0];
        }

        foreach (var system in descriptor.VirtualSystems)
        {
            if (system.Id == _options.VirtualSystem || system.RawName == _options.VirtualSystem || system.Name == _options.VirtualSystem)
            {
                return system;
            }
        }

        throw new OvaFormatException($"{_sourceName}: no virtual system '{_options.VirtualSystem}'");
    }

    private static bool Matches(OvfDiskAttachment disk, string selector) =>
        disk.Address == selector
        || disk.Definition?.DiskId == selector
        || (disk.File is not null && (disk.File.Href == selector || disk.File.Id == selector || Path.GetFileName(disk.File.Href) == selector));

    /// <summary>With a table of contents, every failure that needs no data is reported before the first byte is written.</summary>
    private void CheckMembersPresent()
    {
        foreach (var entry in _package!.UnsafeMembers())
        {
            _unsafeNames.Add(entry.Name);
        }

        foreach (var planned in _plan!.Values)
        {
            var member = _package!.FindMember(planned.MemberName) ?? throw MissingMember(planned.MemberName);
            if (!member.IsFile)
            {
                var target = member.LinkName is null ? string.Empty : $" pointing at '{member.LinkName}'";
                throw new OvaFormatException($"{_sourceName}: disk file '{planned.MemberName}' is a {member.Type}{target}, not a regular file; refused");
            }
        }
    }

    private OvaFormatException MissingMember(string name)
    {
        var hint = string.Empty;
        if (_skippedBeforeDescriptor.Contains(name))
        {
            hint = " before the descriptor: on a pipe the .ovf must come first (or import from a file)";
        }
        else if (_unsafeNames.Count > 0)
        {
            hint = $" (members with unsafe names were ignored: '{string.Join("', '", _unsafeNames)}')";
        }

        return new OvaFormatException(hint.StartsWith(" before", StringComparison.Ordinal)
            ? $"{_sourceName}: disk file '{name}' came{hint}"
            : $"{_sourceName}: disk file '{name}' not found in the archive{hint}");
    }

    /// <summary>The format converted disks are written in: <c>raw</c>, or <c>qcow2</c> through <see cref="OvaImportOptions.CreateImage"/>.</summary>
    private string OutputFormat => ImageFactory is null ? "raw" : "qcow2";

    /// <summary>What writes a converted disk as an image, or null for raw.</summary>
    private Func<string, long, IBlockDevice>? ImageFactory => _options.Format == OvaOutputFormat.Qcow2 ? _options.CreateImage : null;

    private async Task ImportDiskAsync(TarReader reader, PlannedDisk planned, CancellationToken cancellationToken)
    {
        var disk = planned.Disk;
        var file = disk.File!;
        var resultIndex = _results.Count;
        var label = $"{_sourceName}/{planned.MemberName}";
        var member = new DiskMemberStream(reader, file, planned.MemberName, DigestFor, _options.Progress);
        var statuses = new List<string>();
        member.MemberFinished += (name, digest) => statuses.Add(CheckDigest(name, digest, resultIndex));
        var inflated = file.Compression == "gzip" ? new CountingReadStream(new GZipStream(member, CompressionMode.Decompress, leaveOpen: true)) : null;
        var data = inflated ?? (Stream)member;
        try
        {
            var path = Path.Combine(_options.TargetDirectory, planned.OutputName);
            if (_options.Extract)
            {
                // A GNU sparse member may declare any size and cost nothing to expand: the same bound as a disk.
                CheckCapacity(reader.Current!.Size, label);
                var output = Track(OutputFile.Create(path, 0, label, asDevice: false));
                long length;
                await using (var target = new FileStream(output.TemporaryPath, FileMode.Open, FileAccess.Write, FileShare.None, bufferSize: 0))
                {
                    length = await SparseFileCopier.CopyAsync(data, target, cancellationToken);
                }

                _results.Add(new ImportedDisk(disk.Address, file.Href, disk.Format, path, disk.Format, length, length, "absent"));
            }
            else
            {
                await ConvertAsync(data, disk, path, label, reader, cancellationToken);
            }

            inflated?.Drain();
            member.Drain();
            CheckGzipSize(member, inflated, file, label);
        }
        catch (InvalidDataException e)
        {
            throw new OvaFormatException($"{label}: gzip data is corrupt: {e.Message}", e);
        }
        finally
        {
            if (!ReferenceEquals(data, member))
            {
                await data.DisposeAsync();
            }
        }

        var status = statuses.Contains("unlisted") ? "unlisted"
            : statuses.Contains("pending") ? "pending"
            : statuses.Count == 0 || statuses.Contains("absent") ? "absent"
            : "verified";
        _results[resultIndex] = _results[resultIndex] with { Manifest = status };
    }

    private async Task ConvertAsync(Stream data, OvfDiskAttachment disk, string path, string label, TarReader reader, CancellationToken cancellationToken)
    {
        var prefix = new byte[SparseExtentHeader.Size];
        var peeked = data.ReadAtLeast(prefix, prefix.Length, throwOnEndOfStream: false);
        var source = new ReplayStream(prefix.AsMemory(0, peeked), data);
        switch (ImageFormatDetector.Detect(prefix.AsSpan(0, peeked)))
        {
            case ImageFormat.SparseVmdk:
            {
                var image = VmdkImage.Open(source, label, _options.Limits);
                if (disk.VirtualSize is { } declared && declared > image.CapacityBytes)
                {
                    _options.Warning?.Invoke($"{label}: the descriptor declares {declared} bytes, the VMDK only {image.CapacityBytes}; the VMDK's size is used");
                }

                var output = Track(OutputFile.Create(path, image.CapacityBytes, label, createImage: ImageFactory));
                var written = await image.ConvertAsync(output.Device, _options.Workers, null, cancellationToken);
                var kind = image.Header.IsStreamOptimized ? "vmdk (streamOptimized)" : "vmdk (monolithicSparse)";
                _results.Add(new ImportedDisk(disk.Address, disk.File!.Href, kind, path, OutputFormat, image.CapacityBytes, written, "absent"));
                return;
            }

            case ImageFormat.VmdkDescriptor:
                throw DescriptorOnly(source, label);

            case ImageFormat.Qcow2:
                throw new NotSupportedException($"{label}: qcow2 disks inside an OVA are not converted yet; --extract copies it out as it is");

            default:
            {
                var stored = disk.File!.Compression is null && disk.File.ChunkSize is null ? reader.Current!.Size : disk.File.Size;
                var size = disk.File.Compression is null ? stored : disk.VirtualSize;
                if (size is null)
                {
                    throw new OvaFormatException($"{label}: a compressed or chunked raw disk needs ovf:size and a capacity in the descriptor");
                }

                CheckCapacity(size.Value, label);
                var output = Track(OutputFile.Create(path, size.Value, label, createImage: ImageFactory));
                var written = await RawImageCopier.CopyAsync(source, output.Device, label, cancellationToken);
                _results.Add(new ImportedDisk(disk.Address, disk.File.Href, "raw", path, OutputFormat, size.Value, written, "absent"));
                return;
            }
        }
    }

    /// <summary>
    /// OVF defines a gzip file's <c>ovf:size</c> as its stored (compressed) size, but producers write the inflated size
    /// too and peers ignore the attribute: that one is accepted with a warning, any other disagreement is an error.
    /// </summary>
    private void CheckGzipSize(DiskMemberStream member, CountingReadStream? inflated, OvfFile file, string label)
    {
        if (member.GzipSizeMismatch is not { } stored || inflated is null)
        {
            return;
        }

        if (file.Size != inflated.Count)
        {
            throw new OvaFormatException($"{label}: {stored} bytes in the archive ({inflated.Count} once inflated), but ovf:size says {file.Size}");
        }

        _options.Warning?.Invoke($"{label}: ovf:size {file.Size} is the inflated size; OVF defines it as the stored size ({stored} bytes); accepted");
    }

    /// <summary>A descriptor-only VMDK: read it (bounded) only to say precisely why it is refused.</summary>
    private static OvaFormatException DescriptorOnly(Stream source, string label)
    {
        var buffer = new byte[VmdkDescriptor.MaxBytes + 1];
        var length = source.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        if (length > VmdkDescriptor.MaxBytes)
        {
            return new OvaFormatException($"{label}: VMDK descriptor file larger than {VmdkDescriptor.MaxBytes} bytes; refused");
        }

        var descriptor = VmdkDescriptor.Parse(buffer.AsSpan(0, length), label);
        return new OvaFormatException($"{label}: descriptor-only VMDK (createType \"{descriptor.CreateType}\", extents {descriptor.Describe()}) refused: it names files outside the image, which a converter would read from the host");
    }

    private async Task CreateBlankAsync(OvfDiskAttachment disk, string outputName, CancellationToken cancellationToken)
    {
        var size = disk.VirtualSize ?? throw new OvaFormatException($"{_sourceName}: blank disk {disk.Address} ('{disk.Definition?.DiskId}') has no usable capacity");
        var label = $"{_sourceName}: blank disk {disk.Address}";
        CheckCapacity(size, label);
        var path = Path.Combine(_options.TargetDirectory, outputName);
        Track(OutputFile.Create(path, size, label, createImage: ImageFactory));
        _results.Add(new ImportedDisk(disk.Address, null, "blank", path, OutputFormat, size, 0, _manifest is null ? "absent" : "verified"));
        await Task.CompletedTask.WaitAsync(cancellationToken);
    }

    private MemberDigest DigestFor(string name)
    {
        if (_manifest is not null)
        {
            return _manifest.Find(name) is { } entry ? new MemberDigest(entry.Algorithm) : MemberDigest.None();
        }

        // On a pipe the manifest may still come; hash with every algorithm it could name.
        return _package is null ? new MemberDigest(null) : MemberDigest.None();
    }

    private string CheckDigest(string name, MemberDigest digest, int result)
    {
        if (_manifest is null)
        {
            if (_package is null)
            {
                _pendingDigests.Add((name, digest, result));
                return "pending";
            }

            digest.Dispose();
            return "absent";
        }

        using (digest)
        {
            if (_manifest.Find(name) is not { } entry)
            {
                _options.Warning?.Invoke($"{_sourceName}: '{name}' is not listed in the manifest {_manifest.Name}");
                return "unlisted";
            }

            Verify(digest, entry);
            return "verified";
        }
    }

    /// <summary>Checks a digest; a mismatch names the archive as well as the member.</summary>
    private void Verify(MemberDigest digest, ManifestEntry entry)
    {
        try
        {
            digest.Verify(entry);
        }
        catch (OvaFormatException e)
        {
            throw new OvaFormatException($"{_sourceName}: {e.Message}", e);
        }
    }

    private void VerifyLateDigests()
    {
        if (_manifest is not null && _descriptorName is not null && _manifest.Find(_descriptorName) is { } descriptorEntry)
        {
            using var digest = new MemberDigest(descriptorEntry.Algorithm);
            digest.Append(_descriptorBytes);
            Verify(digest, descriptorEntry);
        }

        foreach (var (name, digest, result) in _pendingDigests)
        {
            using (digest)
            {
                var status = "absent";
                if (_manifest?.Find(name) is { } entry)
                {
                    Verify(digest, entry);
                    status = "verified";
                }
                else if (_manifest is not null)
                {
                    _options.Warning?.Invoke($"{_sourceName}: '{name}' is not listed in the manifest {_manifest.Name}");
                    status = "unlisted";
                }

                if (result < _results.Count && _results[result].Manifest is not "unlisted")
                {
                    _results[result] = _results[result] with { Manifest = status };
                }
            }
        }
    }

    private async Task CommitAllAsync(CancellationToken cancellationToken)
    {
        try
        {
            foreach (var output in _outputs)
            {
                await output.CommitAsync(cancellationToken);
            }
        }
        catch
        {
            foreach (var output in _outputs)
            {
                output.Revoke();
            }

            throw;
        }
    }

    /// <summary>The same bound the VMDK reader applies to its capacity, for disks whose size the descriptor or tar gives.</summary>
    private void CheckCapacity(long size, string label)
    {
        if (size > _options.Limits.MaxCapacityBytes)
        {
            throw new OvaFormatException($"{label}: capacity of {size} bytes is above the {_options.Limits.MaxCapacityBytes >> 40} TiB limit");
        }
    }

    private OutputFile Track(OutputFile output)
    {
        lock (_outputs)
        {
            _outputs.Add(output);
            if (_abandoned)
            {
                output.Abandon();
            }
        }

        return output;
    }

    /// <summary>
    /// Runs when the import is cancelled (SIGINT/SIGTERM): the temporary files go at once, from the signal's thread, so
    /// nothing is left even if the process has to exit before the import thread (perhaps blocked reading a pipe) sees
    /// the cancellation. Committed files stay: once renamed, the import has succeeded.
    /// </summary>
    private void AbandonOutputs()
    {
        lock (_outputs)
        {
            _abandoned = true;
            foreach (var output in _outputs)
            {
                output.Abandon();
            }
        }
    }

    private sealed class PlannedDisk(OvfDiskAttachment disk, string memberName, string outputName)
    {
        public OvfDiskAttachment Disk { get; } = disk;

        public string MemberName { get; } = memberName;

        /// <summary>The file name in the target folder (see <see cref="OutputNames"/>).</summary>
        public string OutputName { get; } = outputName;

        public bool Done { get; set; }
    }
}
