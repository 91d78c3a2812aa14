using System.Buffers.Binary;
using System.Text;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Server.Handshake;

/// <summary>NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT.</summary>
internal sealed partial class HandshakeSession
{
    private const int MaxQueries = 1024;

    private void HandleMetaContext(NbdOption option, ReadOnlySpan<byte> data)
    {
        var isSet = option == NbdOption.SetMetaContext;
        if (!_structured && !_extended)
        {
            SendError(option, NbdOptionReply.ErrInvalid, "negotiate structured replies first");
            return;
        }

        var position = 0;
        var exportName = ReadString(data, ref position);
        if (exportName is null || data.Length - position < 4)
        {
            SendError(option, NbdOptionReply.ErrInvalid, "malformed export name");
            return;
        }

        var queryCount = BinaryPrimitives.ReadUInt32BigEndian(data[position..]);
        position += 4;
        if (queryCount > MaxQueries)
        {
            SendError(option, NbdOptionReply.ErrTooBig, $"more than {MaxQueries} queries");
            return;
        }

        var queries = new List<string>((int)queryCount);
        for (var i = 0; i < queryCount; i++)
        {
            var query = ReadString(data, ref position);
            if (query is null)
            {
                SendError(option, NbdOptionReply.ErrInvalid, $"malformed query {i}");
                return;
            }

            queries.Add(query);
        }

        if (position != data.Length)
        {
            SendError(option, NbdOptionReply.ErrInvalid, "trailing bytes after the queries");
            return;
        }

        var export = FindAdmittedExport(exportName, out var refused);
        if (refused)
        {
            SendAccessRefused(option, exportName);
            return;
        }

        if (export is null)
        {
            SendError(option, NbdOptionReply.ErrUnknown, $"export '{exportName}' not found");
            return;
        }

        var ids = new List<uint>();
        if (!isSet && queries.Count == 0)
        {
            export.MetaContexts.All(ids);
        }

        foreach (var query in queries)
        {
            if (isSet)
            {
                // SET selects exact names only; a namespace wildcard would select contexts the client did not name.
                if (export.MetaContexts.TryFind(query, out var id) && !ids.Contains(id))
                {
                    ids.Add(id);
                }
            }
            else
            {
                export.MetaContexts.MatchQuery(query, ids);
            }
        }

        foreach (var id in ids)
        {
            var name = Encoding.UTF8.GetBytes(export.MetaContexts[id]!.Name);
            var payload = new byte[4 + name.Length];
            BinaryPrimitives.WriteUInt32BigEndian(payload, id);
            name.CopyTo(payload, 4);
            SendReply(option, NbdOptionReply.MetaContext, payload);
        }

        if (isSet)
        {
            _selectedContextsExport = exportName;
            _selectedContexts.Clear();
            _selectedContexts.AddRange(ids);
        }

        SendAck(option);
    }
}
