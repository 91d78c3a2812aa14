using System.Runtime.InteropServices;
using System.Text;
using Engine.Blocks.Buffers;
using Engine.Blocks.Native;

namespace Engine.Blocks.Fuse;

/// <summary>
/// A read-only <see cref="IBlockDevice"/> as one regular file, <c>MOUNTPOINT/NAME</c>, in a FUSE mount of Engine's
/// own (libfuse 3's low-level API): reads are answered straight from the device, and <c>lseek</c>
/// <c>SEEK_DATA</c>/<c>SEEK_HOLE</c> from its extents, so <c>qemu-img</c> (which asks the file for its holes) skips the
/// zero ranges rather than reading and scanning them, as it must through nbdfuse. A few threads serve the mount's
/// requests; a read that is not ready at once is answered from the thread pool when the device completes it, so
/// the kernel's parallel reads stay parallel. Disposing unmounts (lazily: a reader holding the file open finishes
/// first, up to a deadline) and closes /dev/fuse only once the serving threads are gone.
/// </summary>
internal sealed partial class FuseBlockFile : IDisposable
{
    private const ulong RootInode = 1;
    private const ulong FileInode = 2;

    // The file never changes while mounted: the kernel may cache names and attributes for as long as it likes.
    private const double AttributeTimeout = 86400;
    private static readonly TimeSpan StopDeadline = TimeSpan.FromSeconds(10);

    private readonly IBlockDevice _device;
    private readonly BufferPool _pool;
    // The file's name, NUL-terminated as readdir passes it.
    private readonly byte[] _name;
    private readonly bool _directIo;
    private readonly int _threads;
    private readonly long _allocatedBytes;
    private readonly Action<string, Exception>? _onError;
    private readonly ExtentList _seekExtents = new(64);
    private readonly Lock _seekLock = new();
    private readonly CountdownEvent _inFlight = new(1);
    private GCHandle _self;
    private nint _session;
    private Thread[] _loops = [];
    private int _disposed;

    private FuseBlockFile(string mountPoint, string name, IBlockDevice device, long allocatedBytes, FuseBlockFileOptions options)
    {
        MountPoint = mountPoint;
        Path = System.IO.Path.Combine(mountPoint, name);
        _device = device;
        _name = Encoding.UTF8.GetBytes(name + "\0");
        _allocatedBytes = allocatedBytes;
        _directIo = options.DirectIo;
        _threads = Math.Max(1, options.Threads);
        _pool = options.Pool ?? BufferPool.Shared;
        _onError = options.OnError;
    }

    /// <summary>The directory the file system is mounted on.</summary>
    public string MountPoint { get; }

    /// <summary>The file: <c>MOUNTPOINT/NAME</c>.</summary>
    public string Path { get; }

    /// <summary>
    /// Mounts <paramref name="device"/> as <c>MOUNTPOINT/NAME</c>. The directory is created when missing; a stale mount
    /// of Engine's own on it (left by a crashed process: type <c>fuse.engine</c>, answering ENOTCONN) is detached first.
    /// </summary>
    /// <exception cref="IOException">Something else is mounted there, libfuse3 is missing, /dev/fuse cannot be opened
    /// or the mount fails.</exception>
    public static async Task<FuseBlockFile> MountAsync(string mountPoint, string name, IBlockDevice device, FuseBlockFileOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(mountPoint);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(device);
        if (name.Contains('/', StringComparison.Ordinal) || name is "." or "..")
        {
            throw new ArgumentException($"{name}: a file name, not a path", nameof(name));
        }

        mountPoint = System.IO.Path.GetFullPath(mountPoint);
        ClearStaleMount(mountPoint);

        Directory.CreateDirectory(mountPoint);
        var allocated = await AllocatedBytesAsync(device, cancellationToken).ConfigureAwait(false);
        var file = new FuseBlockFile(mountPoint, name, device, allocated, options ?? new FuseBlockFileOptions());
        try
        {
            file.Start();
        }
        catch
        {
            file.Dispose();
            throw;
        }

        return file;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (_session != 0)
        {
            // The loops stop first and /dev/fuse closes last: a loop still running after the close would read, or
            // reply to, whatever file reused the descriptor's number. Detaching the mount (the descriptor stays open)
            // stops them: the loops go on answering a reader that still holds the file (its flush and release too),
            // and once it closes the file the kernel aborts the connection and their reads fail with ENODEV.
            // fuse_session_exit is no way to stop them: libfuse drops a request it reads after it, unanswered, and
            // the process that sent it waits for ever.
            var detached = TryDetach();
            if (!detached)
            {
                // The mount stays: closing /dev/fuse and unmounting through libfuse is the only way left.
                Native.Fuse.fuse_session_exit(_session);
                Native.Fuse.fuse_session_unmount(_session);
            }

            var stopped = _loops.All(loop => loop.Join(StopDeadline));

            // Reads answered from the thread pool reply through the session: it stays until they are done.
            _inFlight.Signal();
            stopped &= _inFlight.Wait(StopDeadline);
            if (stopped)
            {
                if (detached)
                {
                    Native.Fuse.fuse_session_unmount(_session); // closes /dev/fuse: nothing reads it any more
                }

                Native.Fuse.fuse_session_destroy(_session);
                _self.Free();
                _inFlight.Dispose();
            }

            // else: a reader still holds the file; freeing the session under the loop would crash the process, so
            // it is left to the process's exit.
        }
        else if (_self.IsAllocated)
        {
            _self.Free();
        }
    }

    /// <summary>
    /// Detaches what a crashed export left at <paramref name="mountPoint"/>: a mount of our own type whose daemon is gone
    /// (every access fails with ENOTCONN). Anything else there, a live export or a filesystem of the user's (an NFS
    /// share at /mnt/pve), is never touched: the mount is refused.
    /// </summary>
    private static void ClearStaleMount(string mountPoint)
    {
        var type = MountTable.FileSystemType(mountPoint);
        if (type is null)
        {
            return;
        }

        if (type != MountTable.EngineFuseType)
        {
            throw new IOException($"{mountPoint}: a {type} filesystem is mounted there; refusing to mount over it (unmount it or choose another directory)");
        }

        if (LibC.TryStat(mountPoint, LibC.STATX_TYPE, out _, out var errno) || errno != Errno.ENOTCONN)
        {
            throw new IOException($"{mountPoint}: another Engine export is mounted there and still serving; refusing to mount over it (stop that export or choose another directory)");
        }

        MountTable.Detach(mountPoint);
    }

    // Detaches the mount, lazily, leaving /dev/fuse open; false when it stays.
    private bool TryDetach()
    {
        try
        {
            MountTable.Detach(MountPoint);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The mounted file of a request's session.</summary>
    internal static FuseBlockFile Of(nint request) => (FuseBlockFile)GCHandle.FromIntPtr(Native.Fuse.fuse_req_userdata(request)).Target!;

    private static async Task<long> AllocatedBytesAsync(IBlockDevice device, CancellationToken cancellationToken)
    {
        if (!device.Capabilities.HasFlag(BlockDeviceCapabilities.Extents))
        {
            return device.Size;
        }

        var extents = new ExtentList(256);
        long allocated = 0;
        for (long position = 0; position < device.Size;)
        {
            extents.Clear();
            var covered = await device.GetExtentsAsync(position, device.Size - position, extents, cancellationToken).ConfigureAwait(false);
            if (covered <= 0)
            {
                return allocated + (device.Size - position);
            }

            foreach (var extent in extents.AsSpan())
            {
                allocated += (extent.Flags & ExtentFlags.Zero) == 0 ? extent.Length : 0;
            }

            position += covered;
        }

        return allocated;
    }

    private unsafe void Start()
    {
        _self = GCHandle.Alloc(this);
        var ops = default(FuseLowLevelOps);
        FuseCallbacks.Fill(&ops);

        // "-o ro": the kernel refuses writes before they reach us; fsname/subtype name the mount in /proc/mounts.
        string[] arguments = ["engine", "-o", $"ro,default_permissions,fsname=engine,subtype=engine"];
        var argv = (byte**)NativeMemory.AllocZeroed((nuint)(arguments.Length + 1), (nuint)sizeof(byte*));
        try
        {
            for (var i = 0; i < arguments.Length; i++)
            {
                argv[i] = Utf8(arguments[i]);
            }

            var args = new FuseArgs { argc = arguments.Length, argv = argv, allocated = 0 };
            _session = Native.Fuse.fuse_session_new(&args, &ops, (nuint)sizeof(FuseLowLevelOps), GCHandle.ToIntPtr(_self));
            Native.Fuse.fuse_opt_free_args(&args);
        }
        catch (DllNotFoundException ex)
        {
            throw new IOException($"{Path}: libfuse3.so.3 is missing: install the Debian package libfuse3-3 (and fuse3)", ex);
        }
        finally
        {
            for (var i = 0; i < arguments.Length; i++)
            {
                NativeMemory.Free(argv[i]);
            }

            NativeMemory.Free(argv);
        }

        if (_session == 0)
        {
            throw new IOException($"{Path}: libfuse could not start a session (see its message on standard error)");
        }

        if (Native.Fuse.fuse_session_mount(_session, MountPoint) != 0)
        {
            Native.Fuse.fuse_session_destroy(_session);
            _session = 0;
            throw new IOException($"{MountPoint}: FUSE mount failed (is /dev/fuse there, and fusermount3 installed? see libfuse's message on standard error)");
        }

        _loops = [.. Enumerable.Range(0, _threads).Select(i => new Thread(static state => ((FuseBlockFile)state!).Serve())
        {
            IsBackground = true,
            Name = $"fuse {i} {Path}",
        })];
        foreach (var loop in _loops)
        {
            loop.Start(this);
        }
    }

    // One of the threads that take requests off /dev/fuse, as libfuse's own multi-threaded loop does (its
    // fuse_session_loop_mt is a versioned symbol with a configuration struct that changed between releases): several,
    // so that an lseek, which qemu-img issues synchronously from its main loop, never waits behind a read's copy.
    private unsafe void Serve()
    {
        var buffer = default(FuseBuf);
        try
        {
            while (Native.Fuse.fuse_session_exited(_session) == 0)
            {
                var received = Native.Fuse.fuse_session_receive_buf(_session, &buffer);
                if (received is -Errno.EINTR or -Errno.EAGAIN)
                {
                    continue;
                }

                if (received <= 0)
                {
                    break; // 0: unmounted or aborted; -errno: the device failed
                }

                Native.Fuse.fuse_session_process_buf(_session, &buffer);
            }
        }
        finally
        {
            NativeMemory.Free(buffer.mem); // malloc'd by libfuse
        }
    }

    private static unsafe byte* Utf8(string text)
    {
        var length = Encoding.UTF8.GetByteCount(text);
        var bytes = (byte*)NativeMemory.Alloc((nuint)length + 1);
        Encoding.UTF8.GetBytes(text, new Span<byte>(bytes, length));
        bytes[length] = 0;
        return bytes;
    }
}
