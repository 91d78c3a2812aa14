using Engine.Backup.Repository.Storage;

namespace Engine.Backup.Tests.Storage;

public sealed class ObjectNameTests
{
    [Theory]
    [InlineData(ObjectKind.Config, "config", "config")]
    [InlineData(ObjectKind.Chunk, "abcdef", "chunks/ab/abcdef")]
    [InlineData(ObjectKind.Snapshot, "vm/100/2026-12-06T10:00:00Z/manifest.json", "snapshots/vm/100/2026-12-06T10:00:00Z/manifest.json")]
    [InlineData(ObjectKind.Lock, "writer-1", "locks/writer-1")]
    public void A_name_maps_to_its_key_and_back(ObjectKind kind, string name, string key)
    {
        var parsed = new ObjectName(kind, name);
        Assert.Equal(key, parsed.Key);
        Assert.True(ObjectName.TryParseKey(kind, key, out var back));
        Assert.Equal(parsed, back);
    }

    [Theory]
    [InlineData(ObjectKind.Config, "snapshots/vm/100/x")]
    [InlineData(ObjectKind.Config, "chunks")]
    [InlineData(ObjectKind.Snapshot, "../config")]
    [InlineData(ObjectKind.Snapshot, "vm//100")]
    [InlineData(ObjectKind.Snapshot, "/vm/100")]
    [InlineData(ObjectKind.Snapshot, "vm/./100")]
    [InlineData(ObjectKind.Chunk, "ab/cdef")]
    [InlineData(ObjectKind.Chunk, "ab")]
    [InlineData(ObjectKind.Lock, "a b")]
    public void A_name_that_could_reach_another_kinds_key_or_leave_the_store_is_refused(ObjectKind kind, string name)
    {
        var error = Assert.Throws<ArgumentException>(() => new ObjectName(kind, name));
        Assert.Contains(name, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ObjectKind.Chunk, "chunks/cd/abcdef")]
    [InlineData(ObjectKind.Chunk, "chunks/abcdef")]
    [InlineData(ObjectKind.Snapshot, "locks/writer-1")]
    [InlineData(ObjectKind.Config, "snapshots/config")]
    public void A_key_outside_its_kinds_layout_does_not_parse(ObjectKind kind, string key) =>
        Assert.False(ObjectName.TryParseKey(kind, key, out _));
}
