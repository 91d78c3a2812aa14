using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Engine.Nbd.Protocol;

namespace Engine.Nbd.Tests.Infrastructure;

/// <summary>How a hostile client leaves.</summary>
public enum HostileEnd
{
    /// <summary>close(2) right after sending.</summary>
    Close,

    /// <summary>SO_LINGER 0 then close: a TCP reset.</summary>
    Reset,

    /// <summary>shutdown(SHUT_WR), then read until the server closes; the server must close within the deadline.</summary>
    HalfClose,
}

/// <summary>One generated (or recorded) hostile session: bytes to send, the transport, and how to leave.</summary>
/// <param name="Trickle">Send the first 4 KiB in small pieces with pauses, so the server sees partial headers.</param>
internal sealed record HostileCase(string Kind, bool Tcp, HostileEnd End, byte[] Bytes, bool Trickle = false)
{
    public override string ToString() =>
        $"[{Kind}] {(Tcp ? "tcp" : "unix")} {End}{(Trickle ? " trickled" : "")} {Bytes.Length} bytes: {Convert.ToHexString(Bytes)}";
}

/// <summary>Little builder for wire bytes, big-endian.</summary>
internal sealed class WireBuilder
{
    private readonly List<byte> _bytes = [];

    public int Length => _bytes.Count;

    public WireBuilder U16(ushort v)
    {
        _bytes.Add((byte)(v >> 8));
        _bytes.Add((byte)v);
        return this;
    }

    public WireBuilder U32(uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, v);
        _bytes.AddRange(b);
        return this;
    }

    public WireBuilder U64(ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, v);
        _bytes.AddRange(b);
        return this;
    }

    public WireBuilder Bytes(ReadOnlySpan<byte> b)
    {
        _bytes.AddRange(b);
        return this;
    }

    public WireBuilder Str(string s) => Bytes(Encoding.UTF8.GetBytes(s));

    /// <summary>Option with an honest length.</summary>
    public WireBuilder Option(uint option, byte[] data) => U64(NbdMagic.IHaveOpt).U32(option).U32((uint)data.Length).Bytes(data);

    public WireBuilder Compact(ushort flags, ushort type, ulong cookie, ulong offset, uint length) =>
        U32(NbdMagic.Request).U16(flags).U16(type).U64(cookie).U64(offset).U32(length);

    public WireBuilder Extended(ushort flags, ushort type, ulong cookie, ulong offset, ulong length) =>
        U32(NbdMagic.ExtendedRequest).U16(flags).U16(type).U64(cookie).U64(offset).U64(length);

    public byte[] ToArray() => [.. _bytes];
}

/// <summary>
/// Seeded generator of hostile sessions, and the runner that plays one against a server. Each iteration
/// <c>i</c> of seed <c>s</c> is reproducible on its own: it uses <c>new Random(s * 1_000_003 + i)</c>.
/// </summary>
internal static class HostileCases
{
    public const string HostileExport = "hostile";
    public const long ExportSize = 1 << 20;
    public const int MaxPayload = 1 << 20;

    private static readonly string[] Names = [HostileExport, "", "nope", "hostile\0", new string('n', 4096), "hostile/../good"];
    private static readonly string[] Queries = ["base:allocation", "base:", "qemu:", "qemu:dirty-bitmap:", "qemu:dirty-bitmap:b0", "", ":", "x:y", "base:allocation\0"];

    public static HostileCase Generate(int seed, int iteration)
    {
        var rng = new Random(unchecked((seed * 1_000_003) + iteration));
        var tcp = rng.Next(5) == 0;
        var end = rng.Next(10) switch
        {
            < 4 => HostileEnd.HalfClose,
            < 7 => HostileEnd.Close,
            _ => HostileEnd.Reset,
        };
        var trickle = rng.Next(10) == 0;
        var kind = rng.Next(100);
        return kind switch
        {
            < 10 => new HostileCase("random-bytes", tcp, end, RandomBytes(rng, rng.Next(0, 300)), trickle),
            < 25 => new HostileCase("truncated-handshake", tcp, end, TruncatedSession(rng), trickle),
            < 50 => new HostileCase("garbage-options", tcp, end, GarbageOptions(rng), trickle),
            _ => new HostileCase("hostile-requests", tcp, end, HostileRequests(rng), trickle),
        };
    }

    private static byte[] RandomBytes(Random rng, int length)
    {
        var b = new byte[length];
        rng.NextBytes(b);
        return b;
    }

    /// <summary>A complete, valid session (handshake, a few requests), cut at a random point.</summary>
    private static byte[] TruncatedSession(Random rng)
    {
        var full = ValidPrefix(rng, out var extended, out _);
        AppendRequests(rng, full, extended, structured: true, count: rng.Next(1, 4), valid: true);
        var bytes = full.ToArray();
        return bytes[..rng.Next(0, bytes.Length)];
    }

    private static WireBuilder ValidPrefix(Random rng, out bool extended, out bool structured)
    {
        var w = new WireBuilder().U32(rng.Next(8) == 0 ? 1u : 3u);
        extended = rng.Next(3) == 0;
        structured = extended || rng.Next(2) == 0;
        if (extended)
        {
            if (rng.Next(3) == 0)
            {
                w.Option((uint)NbdOption.StructuredReply, []);
            }

            w.Option((uint)NbdOption.ExtendedHeaders, []);
        }
        else if (structured)
        {
            w.Option((uint)NbdOption.StructuredReply, []);
        }

        if (structured && rng.Next(2) == 0)
        {
            w.Option((uint)NbdOption.SetMetaContext, MetaData(HostileExport, rng.Next(2) == 0 ? ["base:allocation"] : ["base:allocation", "qemu:dirty-bitmap:b0"]));
        }

        if (!extended && rng.Next(6) == 0)
        {
            w.Option((uint)NbdOption.ExportName, Encoding.UTF8.GetBytes(HostileExport));
        }
        else
        {
            w.Option((uint)NbdOption.Go, InfoData(HostileExport, rng.Next(2) == 0 ? [] : [(ushort)NbdInfo.BlockSize]));
        }

        return w;
    }

    private static byte[] GarbageOptions(Random rng)
    {
        var w = new WireBuilder();
        w.U32(rng.Next(10) == 0 ? (uint)rng.Next() : 3u);
        var count = rng.Next(1, 8);
        for (var i = 0; i < count; i++)
        {
            var magic = rng.Next(15) == 0 ? (ulong)rng.NextInt64() : NbdMagic.IHaveOpt;
            uint option = rng.Next(10) switch
            {
                < 7 => (uint)rng.Next(1, 12),
                7 => 0,
                8 => (uint)rng.Next(12, 1000),
                _ => (uint)rng.Next() | 0x8000_0000,
            };
            var data = OptionData(rng, option);
            var declared = rng.Next(10) switch
            {
                < 6 => (uint)data.Length,
                6 => (uint)Math.Max(0, data.Length - rng.Next(1, 8)),
                7 => (uint)(data.Length + rng.Next(1, 64)),
                8 => rng.Next(2) == 0 ? 0xFFFF_FFFFu : 0x8000_0000u,
                _ => (uint)rng.Next(4090, 4200),
            };
            w.U64(magic).U32(option).U32(declared).Bytes(data);
        }

        if (rng.Next(3) == 0)
        {
            AppendRequests(rng, w, extended: rng.Next(3) == 0, structured: true, count: rng.Next(1, 4), valid: false);
        }

        return w.ToArray();
    }

    /// <summary>Option data that is often almost right: real layouts with lying length fields.</summary>
    private static byte[] OptionData(Random rng, uint option)
    {
        if (rng.Next(4) == 0)
        {
            return RandomBytes(rng, rng.Next(0, 64));
        }

        switch (option)
        {
            case (uint)NbdOption.ExportName:
                return Encoding.UTF8.GetBytes(Pick(rng, Names));
            case (uint)NbdOption.Info:
            case (uint)NbdOption.Go:
            {
                var w = new WireBuilder();
                var name = Encoding.UTF8.GetBytes(Pick(rng, Names));
                w.U32(rng.Next(5) == 0 ? (uint)rng.Next() : (uint)name.Length).Bytes(name);
                var n = rng.Next(5) == 0 ? (ushort)rng.Next(0x10000) : (ushort)rng.Next(0, 5);
                w.U16(n);
                for (var i = 0; i < Math.Min((int)n, rng.Next(0, 6)); i++)
                {
                    w.U16((ushort)rng.Next(0, 6));
                }

                return w.ToArray();
            }

            case (uint)NbdOption.ListMetaContext:
            case (uint)NbdOption.SetMetaContext:
            {
                var w = new WireBuilder();
                var name = Encoding.UTF8.GetBytes(Pick(rng, Names));
                w.U32(rng.Next(6) == 0 ? (uint)rng.Next() : (uint)name.Length).Bytes(name);
                var n = rng.Next(6) == 0 ? (uint)rng.Next() : (uint)rng.Next(0, 4);
                w.U32(n);
                for (var i = 0; i < Math.Min(n, (uint)rng.Next(0, 5)); i++)
                {
                    var q = Encoding.UTF8.GetBytes(Pick(rng, Queries));
                    w.U32(rng.Next(6) == 0 ? (uint)rng.Next() : (uint)q.Length).Bytes(q);
                }

                return w.ToArray();
            }

            default:
                return rng.Next(3) == 0 ? RandomBytes(rng, rng.Next(1, 16)) : [];
        }
    }

    private static byte[] HostileRequests(Random rng)
    {
        var w = ValidPrefix(rng, out var extended, out var structured);
        AppendRequests(rng, w, extended, structured, rng.Next(1, 24), valid: false);
        return w.ToArray();
    }

    private static void AppendRequests(Random rng, WireBuilder w, bool extended, bool structured, int count, bool valid)
    {
        _ = structured;
        for (var i = 0; i < count && w.Length < (256 << 10); i++)
        {
            var type = valid || rng.Next(8) != 0 ? (ushort)rng.Next(0, 8) : (ushort)rng.Next(0x10000);
            if (type == (ushort)NbdCommand.Disconnect && rng.Next(3) != 0)
            {
                type = (ushort)NbdCommand.Read;
            }

            var flags = valid ? (ushort)0 : rng.Next(4) switch
            {
                0 => (ushort)rng.Next(0x10000),
                1 => (ushort)(1 << rng.Next(0, 6)),
                _ => (ushort)0,
            };
            var cookie = (ulong)rng.NextInt64();
            var offset = valid ? (ulong)rng.Next(0, (int)ExportSize - 4096) : rng.Next(10) switch
            {
                < 4 => (ulong)rng.NextInt64(0, ExportSize),
                4 => (ulong)ExportSize,
                5 => (ulong)ExportSize - (ulong)rng.Next(1, 600),
                6 => (1ul << 63) - (ulong)rng.Next(0, 2),
                7 => ulong.MaxValue - (ulong)rng.Next(0, 1024),
                8 => 0,
                _ => (ulong)rng.NextInt64() * 2,
            };
            var length = valid ? (ulong)rng.Next(1, 4096) : rng.Next(12) switch
            {
                < 4 => (ulong)rng.Next(0, 8192),
                4 => 0,
                5 => (ulong)MaxPayload + (ulong)rng.Next(-1, 2),
                6 => 0x8000_0000,
                7 => 0xFFFF_FFFF - (ulong)rng.Next(0, 2),
                8 => 0x1_0000_0000ul + (ulong)rng.Next(0, 2),
                9 => (ulong)rng.NextInt64(),
                10 => ulong.MaxValue,
                _ => (ulong)ExportSize,
            };

            var useExtended = extended;
            if (!valid && rng.Next(12) == 0)
            {
                useExtended = !useExtended;
            }

            if (!valid && rng.Next(25) == 0)
            {
                // Wrong magic entirely.
                w.U32((uint)rng.Next()).U16(flags).U16(type).U64(cookie).U64(offset).U32((uint)length);
                continue;
            }

            var hasPayload = type == (ushort)NbdCommand.Write || (useExtended && (flags & (ushort)CommandFlags.PayloadLength) != 0);
            if (useExtended)
            {
                if (type == (ushort)NbdCommand.Write && (valid || rng.Next(4) != 0))
                {
                    flags |= (ushort)CommandFlags.PayloadLength;
                }

                w.Extended(flags, type, cookie, offset, length);
            }
            else
            {
                w.Compact(flags, type, cookie, offset, (uint)length);
                length = (uint)length;
            }

            if (hasPayload)
            {
                // Honest payloads when small; otherwise a truncated one (the server is left waiting for the rest).
                var n = length <= 16384 && rng.Next(5) != 0 ? (int)length : rng.Next(0, 4096);
                w.Bytes(RandomBytes(rng, n));
                if (n < (int)Math.Min(length, int.MaxValue))
                {
                    return;
                }
            }
        }
    }

    private static T Pick<T>(Random rng, T[] items) => items[rng.Next(items.Length)];

    public static byte[] InfoData(string export, ushort[] infos)
    {
        var w = new WireBuilder();
        var name = Encoding.UTF8.GetBytes(export);
        w.U32((uint)name.Length).Bytes(name).U16((ushort)infos.Length);
        foreach (var i in infos)
        {
            w.U16(i);
        }

        return w.ToArray();
    }

    public static byte[] MetaData(string export, string[] queries)
    {
        var w = new WireBuilder();
        var name = Encoding.UTF8.GetBytes(export);
        w.U32((uint)name.Length).Bytes(name).U32((uint)queries.Length);
        foreach (var q in queries)
        {
            var b = Encoding.UTF8.GetBytes(q);
            w.U32((uint)b.Length).Bytes(b);
        }

        return w.ToArray();
    }

    /// <summary>
    /// Plays one case. Returns null when the server behaved, or a description of what went wrong (it did not close
    /// after our EOF, or we could not connect).
    /// </summary>
    public static async Task<string?> RunAsync(HostileCase c, string unixPath, IPEndPoint? tcp, TimeSpan closeDeadline)
    {
        Socket socket;
        try
        {
            if (c.Tcp && tcp is not null)
            {
                socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await socket.ConnectAsync(tcp, cts.Token);
            }
            else
            {
                socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(unixPath), cts.Token);
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            return $"connect failed: {ex.Message}";
        }

        using (socket)
        {
            // Sending may fail (the server closed on us) or stall (it stopped reading for backpressure): both fine.
            var drain = c.End == HostileEnd.HalfClose ? DrainAsync(socket, closeDeadline) : null;
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                var data = c.Bytes.AsMemory();
                if (c.Trickle)
                {
                    var pieces = new Random(c.Bytes.Length);
                    while (!data.IsEmpty && c.Bytes.Length - data.Length < 4096)
                    {
                        var n = Math.Min(data.Length, pieces.Next(1, 97));
                        n = await socket.SendAsync(data[..n], SocketFlags.None, cts.Token);
                        data = data[n..];
                        await Task.Delay(1, cts.Token);
                    }
                }

                while (!data.IsEmpty)
                {
                    var n = await socket.SendAsync(data, SocketFlags.None, cts.Token);
                    data = data[n..];
                }
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
            }

            switch (c.End)
            {
                case HostileEnd.HalfClose:
                    try
                    {
                        socket.Shutdown(SocketShutdown.Send);
                    }
                    catch (SocketException)
                    {
                    }

                    return await drain! ? null : $"server did not close within {closeDeadline} after the client's EOF";
                case HostileEnd.Reset:
                    socket.LingerState = new LingerOption(true, 0);
                    break;
                default:
                    break;
            }

            return null;
        }
    }

    /// <summary>Reads everything until EOF/reset: true, or the deadline: false.</summary>
    private static async Task<bool> DrainAsync(Socket socket, TimeSpan deadline)
    {
        var buffer = new byte[256 << 10];
        using var cts = new CancellationTokenSource(deadline);
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token) > 0)
            {
            }

            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (SocketException)
        {
            return true;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
    }
}
