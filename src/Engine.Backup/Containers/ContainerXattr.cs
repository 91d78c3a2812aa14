namespace Engine.Backup.Containers;

/// <summary>
/// One extended attribute, name and raw value as <c>lgetxattr</c> returns them. POSIX ACLs travel as their
/// <c>system.posix_acl_access</c> / <c>system.posix_acl_default</c> attributes in the kernel's binary form, so a
/// directory restore writes them back verbatim and a tar writer turns them into text.
/// </summary>
/// <param name="Name">The full name, namespace included (<c>user.comment</c>, <c>security.capability</c>).</param>
/// <param name="Value">The raw value.</param>
public sealed record ContainerXattr(string Name, ReadOnlyMemory<byte> Value);
