using Engine.Provider.Api;
using Microsoft.Extensions.Logging;

namespace Engine.Provider.Repository;

/// <summary>An <see cref="ILogger"/> that forwards the backup engine's messages to PVE's log function.</summary>
internal sealed class ProviderLogger(ProviderLogFunction log) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel))
        {
            return;
        }

        var level = logLevel switch
        {
            >= LogLevel.Error => ProviderLogLevel.Err,
            LogLevel.Warning => ProviderLogLevel.Warn,
            _ => ProviderLogLevel.Info,
        };
        log(level, formatter(state, exception));
    }
}
