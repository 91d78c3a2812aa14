namespace Engine.Provider.Api;

/// <summary><c>restore_get_mechanism</c>'s answer, <c>($mechanism, $vmtype)</c>.</summary>
/// <param name="Mechanism"><c>qemu-img</c> for VMs, <c>tar</c> or <c>directory</c> for containers.</param>
/// <param name="GuestType">What the archive holds.</param>
public sealed record RestoreMechanism(string Mechanism, GuestType GuestType);
