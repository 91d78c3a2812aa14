using Engine.Blocks;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Server.Transmission;

/// <summary>Request validation, in the order the spec implies: command, flags, permission, range, alignment.</summary>
internal sealed partial class TransmissionSession
{
    private (NbdError Error, string? Message) Validate(in RequestHeader request)
    {
        var allowed = request.Command switch
        {
            NbdCommand.Read => _structured ? CommandFlags.DontFragment : CommandFlags.None,
            NbdCommand.Write => CommandFlags.Fua,
            NbdCommand.Flush => CommandFlags.None,
            NbdCommand.Trim => CommandFlags.Fua,
            NbdCommand.Cache => CommandFlags.None,
            NbdCommand.WriteZeroes => CommandFlags.Fua | CommandFlags.NoHole | CommandFlags.FastZero,
            NbdCommand.BlockStatus => CommandFlags.ReqOne,
            _ => (CommandFlags?)null,
        };
        if (allowed is null)
        {
            return (NbdError.Invalid, $"unknown command {(ushort)request.Command}");
        }

        if (_extended && request.Command == NbdCommand.Write)
        {
            if ((request.Flags & CommandFlags.PayloadLength) == 0)
            {
                return (NbdError.Invalid, "WRITE without NBD_CMD_FLAG_PAYLOAD_LEN under extended headers");
            }

            allowed |= CommandFlags.PayloadLength;
        }

        if ((request.Flags & ~allowed.Value) != 0)
        {
            return (NbdError.Invalid, $"flags 0x{(ushort)request.Flags:x} not valid for {request.Command}");
        }

        var isWrite = request.Command is NbdCommand.Write or NbdCommand.Trim or NbdCommand.WriteZeroes;
        if (isWrite && _session.Export.ReadOnly)
        {
            return (NbdError.Perm, "export is read-only");
        }

        if (request.Command == NbdCommand.Flush)
        {
            return (NbdError.None, null);
        }

        if (request.Command == NbdCommand.WriteZeroes && (_capabilities & BlockDeviceCapabilities.WriteZeroes) == 0)
        {
            return (NbdError.Invalid, "write-zeroes is not supported by this export");
        }

        if (request.Offset > (ulong)_size || request.Length > (ulong)_size - request.Offset)
        {
            var error = request.Command is NbdCommand.Write or NbdCommand.WriteZeroes ? NbdError.NoSpace : NbdError.Invalid;
            return (error, $"range {request.Offset}+{request.Length} is beyond the export size {_size}");
        }

        if (_minimumBlock > 1 && ((request.Offset | request.Length) & (ulong)(_minimumBlock - 1)) != 0)
        {
            return (NbdError.Invalid, $"range {request.Offset}+{request.Length} is not aligned to {_minimumBlock} bytes");
        }

        switch (request.Command)
        {
            case NbdCommand.Read when request.Length > (ulong)_options.MaxPayload:
                return (NbdError.Invalid, $"read of {request.Length} bytes exceeds the {_options.MaxPayload}-byte maximum");
            case NbdCommand.BlockStatus when _session.MetaContextIds.Length == 0:
                return (NbdError.Invalid, "no meta context was selected with NBD_OPT_SET_META_CONTEXT");
            case NbdCommand.BlockStatus when request.Length == 0:
                return (NbdError.Invalid, "block status of an empty range");
            default:
                return (NbdError.None, null);
        }
    }
}
