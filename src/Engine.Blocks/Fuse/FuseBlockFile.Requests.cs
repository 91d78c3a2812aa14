using System.Runtime.InteropServices;
using Engine.Blocks.Buffers;
using Engine.Blocks.Native;

namespace Engine.Blocks.Fuse;

/// <summary>The requests of <see cref="FuseBlockFile"/>'s file system: a root directory holding one read-only file.</summary>
internal sealed partial class FuseBlockFile
{
    /// <summary>lookup: only the file, in the root.</summary>
    internal unsafe void Lookup(nint request, ulong parent, byte* name)
    {
        if (parent != RootInode || !MemoryMarshal.CreateReadOnlySpanFromNullTerminated(name).SequenceEqual(_name.AsSpan(0, _name.Length - 1)))
        {
            _ = Native.Fuse.fuse_reply_err(request, Errno.ENOENT);
            return;
        }

        var entry = new FuseEntryParam { ino = FileInode, generation = 1, attr_timeout = AttributeTimeout, entry_timeout = AttributeTimeout };
        Attributes(FileInode, &entry.attr);
        _ = Native.Fuse.fuse_reply_entry(request, &entry);
    }

    /// <summary>getattr.</summary>
    internal unsafe void GetAttributes(nint request, ulong inode)
    {
        if (inode is not (RootInode or FileInode))
        {
            _ = Native.Fuse.fuse_reply_err(request, Errno.ENOENT);
            return;
        }

        Stat attributes;
        Attributes(inode, &attributes);
        _ = Native.Fuse.fuse_reply_attr(request, &attributes, AttributeTimeout);
    }

    /// <summary>open: read-only, straight to the device or through the page cache as configured.</summary>
    internal unsafe void Open(nint request, ulong inode, FuseFileInfo* info)
    {
        if (inode != FileInode)
        {
            _ = Native.Fuse.fuse_reply_err(request, Errno.EISDIR);
            return;
        }

        if ((info->flags & 3) != 0)
        {
            _ = Native.Fuse.fuse_reply_err(request, Errno.EROFS);
            return;
        }

        info->bits |= FuseFileInfo.KeepCache | (_directIo ? FuseFileInfo.DirectIo : 0);
        _ = Native.Fuse.fuse_reply_open(request, info);
    }

    /// <summary>
    /// read: from the device into a pooled buffer. A read the device completes at once (a cached or zero chunk) is
    /// answered on the serving thread; the others from the thread pool, so that thread takes the next request meanwhile.
    /// </summary>
    internal unsafe void Read(nint request, ulong inode, nuint size, long offset)
    {
        if (inode != FileInode)
        {
            _ = Native.Fuse.fuse_reply_err(request, Errno.EISDIR);
            return;
        }

        if (offset < 0 || offset >= _device.Size)
        {
            _ = Native.Fuse.fuse_reply_buf(request, null, 0);
            return;
        }

        var length = (int)Math.Min(Math.Min((long)size, _device.Size - offset), BufferPool.MaxBufferSize);
        var buffer = _pool.Rent(length);
        ValueTask pending;
        try
        {
            pending = _device.ReadAsync(offset, buffer.Memory, CancellationToken.None);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or ObjectDisposedException)
        {
            buffer.Dispose();
            Fail(request, $"read {offset}+{length}", ex);
            return;
        }

        if (pending.IsCompletedSuccessfully)
        {
            ReplyData(request, buffer);
        }
        else if (_inFlight.TryAddCount())
        {
            _ = CompleteReadAsync(request, pending, buffer, offset);
        }
        else
        {
            // Unmounting: answer rather than keep the session alive for a read nobody can wait for.
            _ = pending.AsTask().ContinueWith(static (_, b) => ((NativeBuffer)b!).Dispose(), buffer, CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            _ = Native.Fuse.fuse_reply_err(request, Errno.ESHUTDOWN);
        }
    }

    /// <summary>readdir of the root: ".", ".." and the file.</summary>
    internal unsafe void ReadDirectory(nint request, ulong inode, nuint size, long offset)
    {
        if (inode != RootInode)
        {
            _ = Native.Fuse.fuse_reply_err(request, Errno.ENOTDIR);
            return;
        }

        var capacity = (int)Math.Min((long)size, 4096);
        var buffer = stackalloc byte[capacity];
        var used = 0;
        for (var index = (int)Math.Max(offset, 0); index < 3; index++)
        {
            Stat attributes;
            Attributes(index == 2 ? FileInode : RootInode, &attributes);
            fixed (byte* text = index switch { 0 => ".\0"u8, 1 => "..\0"u8, _ => _name })
            {
                var needed = (int)Native.Fuse.fuse_add_direntry(request, buffer + used, (nuint)(capacity - used), text, &attributes, index + 1);
                if (needed > capacity - used)
                {
                    break;
                }

                used += needed;
            }
        }

        _ = Native.Fuse.fuse_reply_buf(request, buffer, (nuint)used);
    }

    /// <summary>
    /// lseek SEEK_DATA/SEEK_HOLE from the device's extents: a range that reads as zeroes is a hole. The kernel
    /// answers SEEK_SET/CUR/END itself.
    /// </summary>
    internal unsafe void Seek(nint request, long offset, int whence)
    {
        if (whence is not (Native.Fuse.SEEK_DATA or Native.Fuse.SEEK_HOLE))
        {
            _ = Native.Fuse.fuse_reply_err(request, Errno.EINVAL);
            return;
        }

        try
        {
            long position;
            lock (_seekLock) // the serving threads share one extent list
            {
                var found = FindAsync(offset, whence == Native.Fuse.SEEK_HOLE);
                position = found.IsCompletedSuccessfully ? found.Result : found.AsTask().GetAwaiter().GetResult();
            }

            if (position < 0)
            {
                _ = Native.Fuse.fuse_reply_err(request, Errno.ENXIO);
            }
            else
            {
                _ = Native.Fuse.fuse_reply_lseek(request, position);
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or ObjectDisposedException)
        {
            Fail(request, $"lseek {offset}", ex);
        }
    }

    /// <summary>
    /// Answers a request that threw: the errno to the reader first (whatever the callback does, the reader is not left
    /// waiting), then the cause to <see cref="FuseBlockFileOptions.OnError"/>. The callback runs on a thread libfuse
    /// called into: an exception crossing back into native code would end the process, so none escapes.
    /// </summary>
    internal unsafe void Fail(nint request, string what, Exception cause)
    {
        _ = Native.Fuse.fuse_reply_err(request, cause is BlockDeviceException device ? device.Errno : Errno.EIO);
        try
        {
            _onError?.Invoke($"{Path}: {what}", cause);
        }
#pragma warning disable CA1031 // the user's logger failing must not take the mount (and the process) down
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    // The first offset at or after `offset` in a hole (hole = true) or in data; -1 for none (ENXIO). The end of the
    // file counts as a hole, as lseek(2) defines it.
    private async ValueTask<long> FindAsync(long offset, bool hole)
    {
        var size = _device.Size;
        if (offset < 0 || offset >= size)
        {
            return -1;
        }

        if (!_device.Capabilities.HasFlag(BlockDeviceCapabilities.Extents))
        {
            return hole ? size : offset;
        }

        for (var position = offset; position < size;)
        {
            _seekExtents.Clear();
            var covered = await _device.GetExtentsAsync(position, size - position, _seekExtents, CancellationToken.None).ConfigureAwait(false);
            if (covered <= 0)
            {
                return hole ? size : position; // no answer for the rest: data, to be safe
            }

            foreach (var extent in _seekExtents.AsSpan())
            {
                if (((extent.Flags & ExtentFlags.Zero) != 0) == hole && extent.End > position)
                {
                    return Math.Max(extent.Offset, position);
                }
            }

            position += covered;
        }

        return hole ? size : -1;
    }

    private async Task CompleteReadAsync(nint request, ValueTask pending, NativeBuffer buffer, long offset)
    {
        try
        {
            try
            {
                await pending.ConfigureAwait(false);
            }
#pragma warning disable CA1031 // nothing may escape: the reader waits for an answer whatever happened
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Fail(request, $"read {offset}+{buffer.Length}", ex);
                buffer.Dispose();
                return;
            }

            ReplyData(request, buffer);
        }
        finally
        {
            _inFlight.Signal();
        }
    }

    private static unsafe void ReplyData(nint request, NativeBuffer buffer)
    {
        using (buffer)
        {
            fixed (byte* data = buffer.Span)
            {
                _ = Native.Fuse.fuse_reply_buf(request, data, (nuint)buffer.Length);
            }
        }
    }

    private unsafe void Attributes(ulong inode, Stat* attributes)
    {
        *attributes = default;
        attributes->st_ino = inode;
        attributes->st_blksize = 1 << 20;
        if (inode == RootInode)
        {
            attributes->st_mode = FuseStructs.S_IFDIR | 0b101_101_101; // 0555
            attributes->st_nlink = 2;
            return;
        }

        attributes->st_mode = FuseStructs.S_IFREG | 0b100_100_100; // 0444
        attributes->st_nlink = 1;
        attributes->st_size = _device.Size;
        attributes->st_blocks = (_allocatedBytes + 511) / 512;
    }
}
