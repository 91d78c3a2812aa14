namespace Engine.Ova.Tar;

/// <summary>What a tar member is, from its typeflag.</summary>
internal enum TarEntryType
{
    /// <summary>A regular file (<c>'0'</c>, NUL, or the contiguous-file <c>'7'</c>).</summary>
    RegularFile,
    /// <summary>A hard link (<c>'1'</c>).</summary>
    HardLink,
    /// <summary>A symbolic link (<c>'2'</c>).</summary>
    SymbolicLink,
    /// <summary>A character device (<c>'3'</c>).</summary>
    CharacterDevice,
    /// <summary>A block device (<c>'4'</c>).</summary>
    BlockDevice,
    /// <summary>A directory (<c>'5'</c>).</summary>
    Directory,
    /// <summary>A FIFO (<c>'6'</c>).</summary>
    Fifo,
    /// <summary>A GNU sparse file (<c>'S'</c> or pax <c>GNU.sparse.*</c>): its stored bytes are not the file's bytes.</summary>
    SparseFile,
    /// <summary>Any other typeflag.</summary>
    Other,
}
