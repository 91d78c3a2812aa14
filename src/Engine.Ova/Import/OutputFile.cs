using Engine.Blocks;
using Engine.Blocks.Devices;
using Microsoft.Win32.SafeHandles;

namespace Engine.Ova.Import;

/// <summary>
/// A disk being written: a sparse file under a temporary name in the target folder, renamed to its final name only
/// by <see cref="CommitAsync"/> and deleted otherwise, so a failed or interrupted import leaves nothing behind.
/// </summary>
internal sealed class OutputFile : IAsyncDisposable
{
    private readonly IBlockDevice? _device;
    private bool _closed;

    private OutputFile(string finalPath, string temporaryPath, IBlockDevice? device)
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
    /// <param name="what">What the file holds, for messages (the disk and its member).</param>
    /// <param name="asDevice">Open the file as a block device of <paramref name="size"/> bytes.</param>
    /// <param name="createImage">With <paramref name="asDevice"/>: write an image format instead of raw (the file starts empty).</param>
    /// <exception cref="IOException">The final file already exists, or the folder is not writable.</exception>
    /// <exception cref="OvaFormatException">The disk is larger than the target file system's largest file.</exception>
    public static OutputFile Create(string finalPath, long size, string what, bool asDevice = true, Func<string, long, IBlockDevice>? createImage = null)
    {
        if (File.Exists(finalPath) || Directory.Exists(finalPath))
        {
            throw new IOException($"{finalPath} already exists; not overwriting it");
        }

        var directory = Path.GetDirectoryName(Path.GetFullPath(finalPath))!;
        var temporary = Path.Combine(directory, $".{Path.GetFileName(finalPath)}.partial-{Environment.ProcessId}");
        var image = asDevice && createImage is not null;
        CreateSized(temporary, image ? 0 : size, what);
        try
        {
            if (image)
            {
                return new OutputFile(finalPath, temporary, createImage!(temporary, size));
            }

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

    /// <summary>
    /// Deletes the temporary file now, while it may still be open and written (a signal arrived; the writer stops on
    /// its own later). Safe to call from another thread; a committed file is left alone.
    /// </summary>
    public void Abandon()
    {
        if (!Committed)
        {
            try
            {
                File.Delete(TemporaryPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Best effort: this also runs from a signal's cancellation, where a throw would end the process
                // with a stack trace, and after a failure, whose error is the one to report.
            }
        }
    }

    /// <summary>Closes the file, deleting it unless it was committed.</summary>
    public async ValueTask DisposeAsync()
    {
        await CloseAsync();
        Abandon();
    }

    /// <summary>Creates the temporary file at its full size (all holes), or fails naming the disk and leaving nothing.</summary>
    private static void CreateSized(string temporary, long size, string what)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(temporary, FileMode.CreateNew, FileAccess.Write);
        }
        catch (UnauthorizedAccessException)
        {
            throw new IOException($"{what}: cannot create a file in {Path.GetDirectoryName(temporary)}: permission denied");
        }
        catch (DirectoryNotFoundException e)
        {
            throw new DirectoryNotFoundException($"{what}: the target folder {Path.GetDirectoryName(temporary)} no longer exists", e);
        }
        catch (IOException e)
        {
            throw new IOException($"{what}: cannot create {temporary}: {Reason(e)}", e);
        }

        try
        {
            using (handle)
            {
                RandomAccess.SetLength(handle, size);
            }
        }
        catch (ArgumentOutOfRangeException)
        {
            // EFBIG: .NET reports a length above the file system's largest file as an argument error.
            File.Delete(temporary);
            throw new OvaFormatException($"{what}: {size} bytes ({size >> 30} GiB) is more than the largest file the target file system allows");
        }
        catch (IOException e)
        {
            File.Delete(temporary);
            throw new IOException($"{what}: cannot make {temporary} {size} bytes long: {Reason(e)}", e);
        }
    }

    /// <summary>
    /// The cause in plain words for the errors a target folder gives; .NET's own text (which repeats the path and may
    /// say "Could not find a part of the path") only for the rest. On Unix an IOException's HResult is the errno.
    /// </summary>
    private static string Reason(IOException e) => e.HResult switch
    {
        Errno.EIO => "I/O error",
        Errno.EACCES => "permission denied",
        Errno.EEXIST => "a file of that name appeared",
        Errno.ENOSPC => "no space left on the device",
        Errno.EROFS => "read-only file system",
        Errno.EDQUOT => "disk quota exceeded",
        _ => e.Message,
    };

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
