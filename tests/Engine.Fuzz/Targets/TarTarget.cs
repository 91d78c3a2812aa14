using Engine.Fuzz.Support;
using Engine.Ova;
using Engine.Ova.Tar;

namespace Engine.Fuzz.Targets;

/// <summary>
/// The streaming tar reader, over a seekable stream (members are seeked over) and over a pipe (they are read
/// through): every member is listed, its name normalised, and small members read whole as the importer reads
/// descriptors and manifests.
/// </summary>
internal sealed class TarTarget : IFuzzTarget
{
    private const int ReadWholeLimit = 16 << 10;

    public string Name => "tar";

    public string Description => "tar reader (ustar, GNU long names, base-256 sizes, pax), seekable and as a pipe";

    public void Run(ReadOnlySpan<byte> input)
    {
        var bytes = input.ToArray();
        ReadAll(new MemoryStream(bytes, writable: false));
        ReadAll(new PipeLikeStream(bytes));
    }

    private static void ReadAll(Stream source)
    {
        try
        {
            using var reader = new TarReader(source, "fuzz.ova");
            var member = 0;
            while (reader.Next() is { } entry)
            {
                _ = entry.SafeName;
                if (member++ % 2 == 0 && entry.Size <= ReadWholeLimit)
                {
                    reader.ReadAll(ReadWholeLimit, "member");
                }
            }
        }
        catch (OvaFormatException)
        {
        }
    }
}
