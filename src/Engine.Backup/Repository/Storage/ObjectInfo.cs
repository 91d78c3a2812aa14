namespace Engine.Backup.Repository.Storage;

/// <summary>What a backend knows of one stored object without reading it.</summary>
/// <param name="Name">The object.</param>
/// <param name="Length">Its length in bytes.</param>
/// <param name="LastModified">When it was last written (or, on the local backend, touched).</param>
public sealed record ObjectInfo(ObjectName Name, long Length, DateTimeOffset LastModified);
