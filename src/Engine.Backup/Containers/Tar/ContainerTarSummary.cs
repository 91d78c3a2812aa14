namespace Engine.Backup.Containers.Tar;

/// <summary>What one tar stream holds.</summary>
/// <param name="Members">Members written (the root and every directory included).</param>
/// <param name="SkippedSockets">Unix sockets left out, as GNU tar leaves them out.</param>
/// <param name="Bytes">Length of the tar stream, end-of-archive blocks included.</param>
public sealed record ContainerTarSummary(long Members, long SkippedSockets, long Bytes);
