using Engine.Blocks;
using Engine.Blocks.Devices;

namespace Engine.Ova.Import;

/// <summary>
/// A disk being written: a sparse file under a temporary name in the target folder, renamed to its final name only
/// by <see cref="CommitAsync"/> and deleted otherwise, so a failed or interrupted import leaves nothing behind.
/// </summary>
internal sealed class OutputFile : IAsyncDisposable
{
    private readonly FileBlockDevice? _device;
    private bool _closed;

    private OutputFile(string finalPath, string temporaryPath, FileBlockDevice? device)
    {
        FinalPath = finalPath;
        TemporaryPath = temporaryPath;
        _device = device;
    }

    public string FinalPath { get; }

    public string TemporaryPath { get; }

    public IBlockDevice Device => _device ?? throw new InvalidOperationException("this output is written as a stream");

    public bool Committed { get; private set; }

    /// <summary>Creates an all-hole file of <paramref name="size"/> bytes next to where <paramref name="finalPath"/> will be.</summary>
    /// <param name="finalPath">Where the file goes on success.</param>
    /// <param name="size">The file's size; with <paramref name="asDevice"/> false, the caller writes <see cref="TemporaryPath"/> itself.</param>
    /// <param name="asDevice">Open the file as a block device of <paramref name="size"/> bytes.</param>
    /// <exception cref="IOException">The final file already exists, or the folder is not writable.</exception>
    public static OutputFile Create(string finalPath, long size, bool asDevice = true)
    {
        if (File.Exists(finalPath) || Directory.Exists(finalPath))
        {
            throw new IOException($"{finalPath} already exists; not overwriting it");
        }

        var directory = Path.GetDirectoryName(Path.GetFullPath(finalPath))!;
        var temporary = Path.Combine(directory, $".{Path.GetFileName(finalPath)}.partial-{Environment.ProcessId}");
        using (var handle = File.OpenHandle(temporary, FileMode.CreateNew, FileAccess.Write))
        {
            RandomAccess.SetLength(handle, size);
        }

        try
        {
            // Written once, front to back: streaming writes start writeback as the import goes and keep the page cache
            // clean, so the flush before the rename has little left to do.
            return new OutputFile(finalPath, temporary, asDevice ? FileBlockDevice.Open(temporary, new FileBlockDeviceOptions { StreamingWrites = true }) : null);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>Flushes the data and renames the file to its final name (never over an existing file).</summary>
    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        if (_device is not null)
        {
            await _device.FlushAsync(cancellationToken);
        }

        await CloseAsync();
        File.Move(TemporaryPath, FinalPath, overwrite: false);
        Committed = true;
    }

    /// <summary>Removes a committed file again (a later disk of the same import failed).</summary>
    public void Revoke()
    {
        if (Committed)
        {
            File.Delete(FinalPath);
            Committed = false;
        }
    }

    /// <summary>Closes the file, deleting it unless it was committed.</summary>
    public async ValueTask DisposeAsync()
    {
        await CloseAsync();
        if (!Committed)
        {
            File.Delete(TemporaryPath);
        }
    }

    private async ValueTask CloseAsync()
    {
        if (!_closed)
        {
            _closed = true;
            if (_device is not null)
            {
                await _device.DisposeAsync();
            }
        }
    }
}
