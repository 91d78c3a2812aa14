using Engine.Blocks;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Client;

/// <summary>
/// One transmission request as the client sends it: the command and its fields, plus where its answer goes (READ
/// data, BLOCK_STATUS extents). A struct passed by reference, so describing a request allocates nothing.
/// </summary>
internal readonly struct NbdRequest
{
    public NbdCommand Command { get; init; }

    public CommandFlags Flags { get; init; }

    public long Offset { get; init; }

    public long Length { get; init; }

    /// <summary>WRITE: the data sent after the header.</summary>
    public ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>READ: where the reply data lands, straight from the connection.</summary>
    public Memory<byte> Destination { get; init; }

    /// <summary>BLOCK_STATUS: the negotiated context whose extents are wanted.</summary>
    public uint ContextId { get; init; }

    /// <summary>BLOCK_STATUS: where the extents go.</summary>
    public ExtentList? Extents { get; init; }

    /// <summary>
    /// The caller's continuation runs on the connection's reader thread as soon as the reply is in, whatever the
    /// connection's default (<see cref="NbdClientOptions.InlineCompletions"/>).
    /// </summary>
    public bool CompleteInline { get; init; }

    public static NbdRequest Read(long offset, Memory<byte> destination, bool completeInline = false) =>
        new() { Command = NbdCommand.Read, Offset = offset, Length = destination.Length, Destination = destination, CompleteInline = completeInline };

    public static NbdRequest Write(CommandFlags flags, long offset, ReadOnlyMemory<byte> payload) =>
        new() { Command = NbdCommand.Write, Flags = flags, Offset = offset, Length = payload.Length, Payload = payload };

    public static NbdRequest BlockStatus(long offset, long length, uint contextId, ExtentList extents) =>
        new() { Command = NbdCommand.BlockStatus, Offset = offset, Length = length, ContextId = contextId, Extents = extents };

    /// <summary>A command without payload or reply data: FLUSH, TRIM, CACHE, WRITE_ZEROES.</summary>
    public static NbdRequest Effect(NbdCommand command, CommandFlags flags, long offset, long length) =>
        new() { Command = command, Flags = flags, Offset = offset, Length = length };
}
