using Engine.Ova;
using Engine.Ova.Manifest;

namespace Engine.Fuzz.Targets;

/// <summary>The OVA manifest (<c>.mf</c>) parser.</summary>
internal sealed class OvaManifestTarget : IFuzzTarget
{
    public string Name => "ova-manifest";

    public string Description => "OVA manifest (.mf): ALG(file)= digest lines";

    public void Run(ReadOnlySpan<byte> input)
    {
        try
        {
            OvfManifest.Parse(input, "fuzz.mf", "");
        }
        catch (OvaFormatException)
        {
        }
    }
}
