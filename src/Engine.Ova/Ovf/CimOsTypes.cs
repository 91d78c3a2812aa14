namespace Engine.Ova.Ovf;

/// <summary>
/// CIM_OperatingSystem ids (DMTF schema 2.55) mapped to PVE ostypes, with the same answers as PVE's OVF importer so
/// that an imported VM gets the same ostype either way.
/// </summary>
internal static class CimOsTypes
{
    /// <summary>The PVE ostype for a CIM id; <c>other</c> when the id is unknown or missing.</summary>
    public static string ToPveOsType(int? cimId) => cimId switch
    {
        18 => "winxp",
        29 or 81 => "solaris",
        36 or 79 or 80 or 82 or 83 or 84 or 85 or 87 or 89 or 90 or 91 or 92 or 93 or 94 or 95 or 96 or 99 or 100 or 101
            or 106 or 107 or 108 or 109 => "l26",
        58 => "w2k",
        67 or 71 or 72 or 75 => "wxp",
        69 or 70 => "w2k3",
        73 or 74 => "wvista",
        76 or 77 => "w2k8",
        97 or 98 => "l24",
        103 or 105 => "win7",
        111 or 112 or 113 or 114 or 115 or 117 or 118 => "win8",
        116 or 119 or 120 or 121 => "win10",
        122 or 123 => "win11",
        _ => "other",
    };
}
