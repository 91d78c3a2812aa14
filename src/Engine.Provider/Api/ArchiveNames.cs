namespace Engine.Provider.Api;

/// <summary>
/// PVE's grammar for archive names. What a name means is the provider's business (<see cref="IArchiveNaming"/>);
/// this only checks the characters PVE accepts.
/// </summary>
public static class ArchiveNames
{
    /// <summary>Whether <paramref name="name"/> is a valid <c>archive-name</c>: <c>[A-Za-z0-9_.+/:-]+</c>.</summary>
    public static bool IsValid(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '.' or '+' or '/' or ':' or '-'))
            {
                return false;
            }
        }

        return true;
    }
}
