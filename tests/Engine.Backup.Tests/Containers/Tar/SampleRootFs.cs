using System.Buffers.Binary;
using System.Text;
using Engine.Backup.Containers;
using Engine.Sources;

namespace Engine.Backup.Tests.Containers.Tar;

/// <summary>
/// A small container root filesystem with one of everything the tar writer must carry: every entry kind, shifted and
/// root owners, owners above the ustar field, setuid and sticky modes, long and unicode names, binary xattrs and a
/// capability, access and default ACLs, sparse files (odd extents, trailing hole, all hole), a 3 MiB dense file, a
/// hard link, device nodes under <c>dev/</c> (which PVE excludes) and elsewhere, a FIFO and a socket.
/// </summary>
internal sealed class SampleRootFs
{
    public const long ShiftedRoot = 100000;
    public const long BigId = 3_000_000;
    public const long BaseTimeNs = 1_700_000_000_123_456_789;

    public static readonly string LongName = "usr/share/doc/" + new string('n', 120) + "/" + new string('m', 40) + ".txt";
    public static readonly string LongTarget = "../../" + string.Join('/', Enumerable.Repeat("target-directory-name", 8));
    public const string UnicodeName = "etc/ünïcødé-名前.conf";
    public const string OddXattrName = "user.odd=name%25";

    /// <summary>cap_net_raw=ep as <c>setcap</c> stores it (VFS_CAP_REVISION_2 with the effective flag).</summary>
    public static readonly byte[] NetRawCapability = Capability(13);

    public static readonly byte[] BinaryValue = [0x00, 0xFF, 0x0A, (byte)'=', 0x80, 0x00, (byte)'%', 0x7F];

    /// <summary>user::rw-,user:1000:r-x,group::r--,mask::r-x,other::r-- in the kernel's order.</summary>
    public static readonly byte[] FileAcl = Acl((1, 6, 0), (2, 5, 1000), (4, 4, 0), (0x10, 5, 0), (0x20, 4, 0));

    /// <summary>user::rwx,user:1000:rwx,group::r-x,group:2000:r-x,mask::rwx,other::r-x.</summary>
    public static readonly byte[] DirectoryDefaultAcl = Acl((1, 7, 0), (2, 7, 1000), (4, 5, 0), (8, 5, 2000), (0x10, 7, 0), (0x20, 5, 0));

    public const int SparseSize = 4 << 20;
    public const int AllHoleSize = 10 << 20;
    public const int OddSparseSize = 16384;
    public const int DenseSize = 3 << 20;

    public SampleRootFs()
    {
        var random = new Random(5);
        var time = BaseTimeNs;

        Directory(".", 0x1ED, time); // 0755
        foreach (var name in new[] { "etc", "usr", "usr/bin", "usr/sbin", "usr/lib", "usr/share", "usr/share/doc", "sbin", "var", "var/lib", "var/devnodes", "run", "dev" })
        {
            Directory(name, 0x1ED, time += 1_111);
        }

        Directory("usr/share/doc/" + new string('n', 120), 0x1ED, time += 7);
        Directory("tmp", 0x3FF, time += 9); // 01777
        Add(new ContainerEntry
        {
            Path = "home", Kind = ContainerEntryKind.Directory, Mode = 0x1ED, Uid = ShiftedRoot, Gid = ShiftedRoot, ModificationTimeNs = time += 5,
            Xattrs = [new ContainerXattr("system.posix_acl_default", DirectoryDefaultAcl)],
        });

        File("etc/hostname", 0x1A4, "ct-101\n"u8.ToArray(), time += 13);
        File("etc/empty", 0x1A4, [], time += 1);
        File(UnicodeName, 0x1A4, "unicode\n"u8.ToArray(), time += 17);
        File(LongName, 0x1A4, "long\n"u8.ToArray(), time += 19);
        Add(new ContainerEntry
        {
            Path = "etc/acl-file", Kind = ContainerEntryKind.RegularFile, Mode = 0x1AC, Uid = ShiftedRoot, Gid = ShiftedRoot, // 0654: group bits = mask
            ModificationTimeNs = time += 23, Size = 4, Xattrs = [new ContainerXattr("system.posix_acl_access", FileAcl)],
        }, "acl\n"u8.ToArray());
        Add(new ContainerEntry
        {
            Path = "etc/xattrs", Kind = ContainerEntryKind.RegularFile, Mode = 0x1A4, Uid = ShiftedRoot, Gid = ShiftedRoot, ModificationTimeNs = time += 29,
            Size = 6, Xattrs = XattrsCrossingRecordLengthDigits(),
        }, "xattr\n"u8.ToArray());

        // Root inside the container (uid 0), setuid, with a capability on a sibling and a hard link to it.
        Add(new ContainerEntry
        {
            Path = "usr/bin/passwd", Kind = ContainerEntryKind.RegularFile, Mode = 0x9ED, Uid = 0, Gid = 0, ModificationTimeNs = time += 31, Size = 1000, // 04755
        }, RandomBytes(random, 1000));
        Add(new ContainerEntry
        {
            Path = "usr/bin/ping", Kind = ContainerEntryKind.RegularFile, Mode = 0x1ED, Uid = ShiftedRoot, Gid = ShiftedRoot, ModificationTimeNs = time += 37,
            Size = 777, Xattrs = [new ContainerXattr("security.capability", NetRawCapability), new ContainerXattr("user.note", "pinger"u8.ToArray())],
        }, RandomBytes(random, 777));
        Add(new ContainerEntry
        {
            Path = "usr/bin/passwd-again", Kind = ContainerEntryKind.HardLink, Mode = 0x9ED, Uid = 0, Gid = 0, ModificationTimeNs = time, LinkTarget = "usr/bin/passwd",
        });
        Add(new ContainerEntry
        {
            Path = "usr/bin/big-ids", Kind = ContainerEntryKind.RegularFile, Mode = 0x1A4, Uid = BigId, Gid = BigId + 1, ModificationTimeNs = time += 41, Size = 3,
        }, "ids"u8.ToArray());
        File("usr/lib/dense.bin", 0x1A4, RandomBytes(random, DenseSize), time += 43);
        Symlink("usr/lib/long-link", LongTarget, time += 47);
        Symlink("lib", "usr/lib", time += 53);
        Symlink("bin", "usr/bin", time += 59);

        // data, hole, data (not a multiple of 512 long), trailing hole
        var sparse = new byte[SparseSize];
        random.NextBytes(sparse.AsSpan(0, 65536));
        random.NextBytes(sparse.AsSpan(1 << 20, 1000));
        Add(new ContainerEntry
        {
            Path = "var/lib/sparse.img", Kind = ContainerEntryKind.RegularFile, Mode = 0x180, Uid = ShiftedRoot, Gid = ShiftedRoot, ModificationTimeNs = time += 61,
            Size = SparseSize, DataExtents = [new SourceRange(0, 65536), new SourceRange(1 << 20, 1000)],
        }, sparse);
        Add(new ContainerEntry
        {
            Path = "var/lib/all-hole.img", Kind = ContainerEntryKind.RegularFile, Mode = 0x180, Uid = ShiftedRoot, Gid = ShiftedRoot, ModificationTimeNs = time += 67,
            Size = AllHoleSize, DataExtents = [],
        }, new byte[AllHoleSize]);

        // Extents that GNU tar could not read back unwidened: 700 bytes, then data up to the end (no trailing hole).
        var odd = new byte[OddSparseSize];
        random.NextBytes(odd.AsSpan(0, 700));
        random.NextBytes(odd.AsSpan(12288));
        Add(new ContainerEntry
        {
            Path = "var/lib/odd.img", Kind = ContainerEntryKind.RegularFile, Mode = 0x1A4, Uid = ShiftedRoot, Gid = ShiftedRoot, ModificationTimeNs = time += 71,
            Size = OddSparseSize, DataExtents = [new SourceRange(0, 700), new SourceRange(12288, 4096)],
        }, odd);

        Device("dev/null", ContainerEntryKind.CharacterDevice, 1, 3, time += 73);
        Device("var/devnodes/tty0", ContainerEntryKind.CharacterDevice, 4, 0, time += 79);
        Device("var/devnodes/loop0", ContainerEntryKind.BlockDevice, 7, 0, time += 83);
        Device("var/devnodes/big-minor", ContainerEntryKind.CharacterDevice, 240, 1048575, time += 89);
        Add(new ContainerEntry
        {
            Path = "run/initctl", Kind = ContainerEntryKind.Fifo, Mode = 0x180, Uid = ShiftedRoot, Gid = ShiftedRoot, ModificationTimeNs = time += 97,
        });
        Add(new ContainerEntry
        {
            Path = "run/daemon.sock", Kind = ContainerEntryKind.Socket, Mode = 0x1B6, Uid = ShiftedRoot, Gid = ShiftedRoot, ModificationTimeNs = time += 101,
        });

        // Before the epoch, with a fraction: -1.25 s.
        Add(new ContainerEntry
        {
            Path = "etc/ancient", Kind = ContainerEntryKind.RegularFile, Mode = 0x1A4, Uid = ShiftedRoot, Gid = ShiftedRoot, ModificationTimeNs = -1_250_000_000, Size = 4,
        }, "old\n"u8.ToArray());

        // Archive order as a directory walk yields it: each directory's members right after it. GNU tar sets a
        // directory's mtime once it has moved past the directory, so a member arriving later would change it again.
        Entries.Sort((a, b) => WalkOrder(a.Path, b.Path));
    }

    public List<ContainerEntry> Entries { get; } = [];

    public Dictionary<string, byte[]> Content { get; } = [];

    public ContainerEntry this[string path] => Entries.Single(e => e.Path == path);

    public InMemoryArchiveReader Reader() => new(Entries, Content);

    /// <summary>Binary and oddly named xattrs, and some whose pax record lengths cross from 2 to 3 digits.</summary>
    private static List<ContainerXattr> XattrsCrossingRecordLengthDigits()
    {
        var list = new List<ContainerXattr>
        {
            new("user.binary", BinaryValue),
            new("user.comment", Encoding.UTF8.GetBytes("a comment with = and \n newline")),
            new(OddXattrName, "odd"u8.ToArray()),
        };

        // "NN SCHILY.xattr.user.lenVV=" + value + "\n": 99, 100 and 101 bytes fall in this range.
        for (var length = 68; length <= 78; length++)
        {
            list.Add(new ContainerXattr($"user.len{length}", Encoding.ASCII.GetBytes(new string((char)('a' + length - 68), length))));
        }

        return list;
    }

    private static int WalkOrder(string a, string b)
    {
        if (a == b)
        {
            return 0;
        }

        if (a == "." || b == ".")
        {
            return a == "." ? -1 : 1;
        }

        return string.CompareOrdinal(a.Replace('/', '\0'), b.Replace('/', '\0'));
    }

    private void Add(ContainerEntry entry, byte[]? content = null)
    {
        Entries.Add(entry);
        if (content is not null)
        {
            Assert.Equal(entry.Size, content.Length);
            Content[entry.Path] = content;
        }
    }

    private void Directory(string path, int mode, long time) => Add(new ContainerEntry
    {
        Path = path, Kind = ContainerEntryKind.Directory, Mode = mode, Uid = ShiftedRoot, Gid = ShiftedRoot, ModificationTimeNs = time,
    });

    private void File(string path, int mode, byte[] content, long time) => Add(new ContainerEntry
    {
        Path = path, Kind = ContainerEntryKind.RegularFile, Mode = mode, Uid = ShiftedRoot, Gid = ShiftedRoot, ModificationTimeNs = time, Size = content.Length,
    }, content);

    private void Symlink(string path, string target, long time) => Add(new ContainerEntry
    {
        Path = path, Kind = ContainerEntryKind.Symlink, Mode = 0x1FF, Uid = ShiftedRoot, Gid = ShiftedRoot, ModificationTimeNs = time, LinkTarget = target,
    });

    private void Device(string path, ContainerEntryKind kind, int major, int minor, long time) => Add(new ContainerEntry
    {
        Path = path, Kind = kind, Mode = 0x1B6, Uid = ShiftedRoot, Gid = ShiftedRoot, ModificationTimeNs = time, DeviceMajor = major, DeviceMinor = minor,
    });

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] Capability(int capability)
    {
        var value = new byte[20];
        BinaryPrimitives.WriteUInt32LittleEndian(value, 0x02000001);
        BinaryPrimitives.WriteUInt32LittleEndian(value.AsSpan(4), 1u << capability);
        return value;
    }

    private static byte[] Acl(params (ushort Tag, ushort Permissions, uint Id)[] entries)
    {
        var value = new byte[4 + 8 * entries.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(value, 2);
        for (var i = 0; i < entries.Length; i++)
        {
            var at = value.AsSpan(4 + 8 * i);
            BinaryPrimitives.WriteUInt16LittleEndian(at, entries[i].Tag);
            BinaryPrimitives.WriteUInt16LittleEndian(at[2..], entries[i].Permissions);
            // Entries without a qualifier carry ACL_UNDEFINED_ID, as the kernel and libacl store them.
            BinaryPrimitives.WriteUInt32LittleEndian(at[4..], entries[i].Tag is 2 or 8 ? entries[i].Id : uint.MaxValue);
        }

        return value;
    }
}
