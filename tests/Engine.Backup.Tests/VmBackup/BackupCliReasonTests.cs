using System.Text.Json;
using Engine.Backup.Tests.Repository;

namespace Engine.Backup.Tests.VmBackup;

/// <summary><c>engine backup</c> says why a disk that came with a bitmap was backed up in full.</summary>
public sealed class BackupCliReasonTests
{
    [Fact]
    public async Task A_full_backup_despite_a_bitmap_names_the_reason_on_stderr_and_in_the_json()
    {
        using var dir = new TempDir();
        var disk = dir["disk.raw"];
        File.WriteAllBytes(disk, TempRepository.Random(196_608, 1));
        File.WriteAllText(dir["dirty.map"], "0  196608  1  dirty\n"); // nbdinfo --map text layout
        string[] backup = ["backup", "--repo", dir["repo"], "--vmid", "100", "--disk", $"scsi0={disk}#dirty-map={dir["dirty.map"]}", "--json"];

        var full = (await EngineCli.RunAsync(backup)).AssertSuccess();
        var incremental = (await EngineCli.RunAsync(backup)).AssertSuccess();

        const string Reason = "no earlier snapshot of scsi0 used bitmap dirty-map";
        Assert.Contains($"scsi0: full backup: {Reason}", full.Stderr, StringComparison.Ordinal);
        using (var json = JsonDocument.Parse(full.Stdout))
        {
            Assert.Equal(Reason, json.RootElement.GetProperty("devices")[0].GetProperty("full_reason").GetString());
        }

        Assert.DoesNotContain("full backup", incremental.Stderr, StringComparison.Ordinal);
        using (var json = JsonDocument.Parse(incremental.Stdout))
        {
            Assert.False(json.RootElement.GetProperty("devices")[0].TryGetProperty("full_reason", out _));
            Assert.NotNull(json.RootElement.GetProperty("parent").GetString());
        }
    }
}
