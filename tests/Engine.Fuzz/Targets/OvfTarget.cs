using Engine.Ova;
using Engine.Ova.Ovf;

namespace Engine.Fuzz.Targets;

/// <summary>The OVF descriptor parser and PVE-style resolution of disks, controllers and NICs.</summary>
internal sealed class OvfTarget : IFuzzTarget
{
    public string Name => "ovf";

    public string Description => "OVF descriptor (XML envelope, references, disks, virtual hardware)";

    public void Run(ReadOnlySpan<byte> input)
    {
        try
        {
            OvfParser.Parse(input, "fuzz.ovf");
        }
        catch (OvaFormatException)
        {
        }
    }
}
