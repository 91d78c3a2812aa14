using Microsoft.Extensions.Logging;

namespace Engine.Fuzz.Support;

/// <summary>
/// A logger that keeps the first exception logged at warning level or above. The NBD server turns a request that
/// threw into an error reply and logs the exception; for a fuzz target that exception is the crash, since a valid
/// or refused request never gets there with a non-device exception.
/// </summary>
internal sealed class ExceptionLogger : ILogger, ILoggerFactory
{
    private Exception? _first;

    /// <summary>The first exception logged since the last <see cref="Take"/>.</summary>
    public Exception? Take() => Interlocked.Exchange(ref _first, null);

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (exception is not null && logLevel >= LogLevel.Warning)
        {
            Interlocked.CompareExchange(ref _first, new UnexpectedException($"logged at {logLevel}: {formatter(state, exception)}", exception), null);
        }
    }

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }
}
