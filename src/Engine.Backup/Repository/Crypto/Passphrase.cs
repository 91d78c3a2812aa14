using System.Text;

namespace Engine.Backup.Repository.Crypto;

/// <summary>
/// A passphrase read from a file (never from the command line, where <c>ps</c> would show it): the file's UTF-8
/// bytes without one trailing newline, as <c>echo secret &gt; F</c> writes them.
/// </summary>
public static class Passphrase
{
    /// <summary>The environment variable naming a passphrase file when no <c>--passphrase-file</c> is given.</summary>
    public const string FileVariable = "ENGINE_PASSPHRASE_FILE";

    /// <summary>Reads the passphrase in <paramref name="path"/>.</summary>
    /// <exception cref="KeyFileException">The file is missing or unreadable (<see cref="KeyFileProblem.Missing"/>) or empty (<see cref="KeyFileProblem.Damaged"/>).</exception>
    public static byte[] ReadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new KeyFileException(path, KeyFileProblem.Missing, $"{path}: no such passphrase file", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KeyFileException(path, KeyFileProblem.Missing, $"{path}: cannot read the passphrase file: {ExceptionReason(e)}", e);
        }

        if (text.EndsWith('\n'))
        {
            text = text[..^(text.EndsWith("\r\n", StringComparison.Ordinal) ? 2 : 1)];
        }

        if (text.Length == 0)
        {
            throw new KeyFileException(path, KeyFileProblem.Damaged, $"{path}: the passphrase file is empty");
        }

        return Encoding.UTF8.GetBytes(text);
    }

    private static string ExceptionReason(Exception e) => e is UnauthorizedAccessException ? "permission denied" : e.Message;
}
