using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Fleet.Contracts;
using Fleet.Grains;
using Fleet.Grains.Index;
using Fleet.Grains.Mdm.Identity;
using Fleet.Grains.Profiles;
using Fleet.Grains.Refetch;
using Fleet.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Fleet.Tests.Identity;

/// <summary>
/// The identity settings (<c>Fleet:Mdm:Identity:Renewal</c> and <c>:Issuer</c>), the issuer, the index's certificate
/// filter and counts, and what an expired certificate does to the refetch and profile machines.
/// </summary>
public sealed class IdentitySettingsAndIndexTests
{
    private static readonly DateTimeOffset s_at = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    private static ServiceProvider Services(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

        return new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddLogging().AddFleetGrains(configuration).BuildServiceProvider();
    }

    [Fact]
    public void Options_Unset_UseTheDocumentedDefaults_AndNoIssuer()
    {
        using var services = Services([]);

        var renewal = services.GetRequiredService<IOptions<RenewalOptions>>().Value;
        var issuer = services.GetRequiredService<IIdentityIssuer>();

        Assert.Equal(
            (TimeSpan.FromDays(30), TimeSpan.FromDays(7), TimeSpan.FromHours(1), TimeSpan.FromMinutes(5), TimeSpan.FromHours(6)),
            (renewal.Window, renewal.Overlap, renewal.Timeout, renewal.RetryBackoff, renewal.MaxRetryBackoff));
        Assert.Equal(TimeSpan.FromDays(365), services.GetRequiredService<IOptions<IssuerOptions>>().Value.Validity);
        Assert.False(issuer.CanIssue);
    }

    [Fact]
    public void RenewalOptions_WithBadOrMisspeltKeys_FailNamingEachKey()
    {
        using var services = Services(new()
        {
            ["Fleet:Mdm:Identity:Renewal:Window"] = "00:00:00",
            ["Fleet:Mdm:Identity:Renewal:Overlap"] = "-00:00:01",
            ["Fleet:Mdm:Identity:Renewal:Timeout"] = "-01:00:00",
            ["Fleet:Mdm:Identity:Renewal:RetryBackoff"] = "00:10:00",
            ["Fleet:Mdm:Identity:Renewal:MaxRetryBackoff"] = "00:05:00",
            ["Fleet:Mdm:Identity:Renewal:Windw"] = "1.00:00:00",
        });

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<RenewalOptions>>().Value);

        Assert.Equal(
            [
                "Fleet:Mdm:Identity:Renewal:Windw is not a setting; use Window, Overlap, Timeout, RetryBackoff, MaxRetryBackoff.",
                "Fleet:Mdm:Identity:Renewal:Window must be positive (was 00:00:00).",
                "Fleet:Mdm:Identity:Renewal:Overlap must not be negative (was -00:00:01).",
                "Fleet:Mdm:Identity:Renewal:Timeout must be positive (was -01:00:00).",
                "Fleet:Mdm:Identity:Renewal:MaxRetryBackoff (00:05:00) must be at least RetryBackoff (00:10:00).",
            ],
            error.Failures);
    }

    [Fact]
    public void IssuerOptions_HalfConfiguredOrMissingFiles_FailNamingTheKey()
    {
        var missing = Path.Combine(TestPki.Folder, "no-such.key");
        using var half = Services(new() { ["Fleet:Mdm:Identity:Issuer:CertificateFile"] = TestPki.CaCertificateFile });
        using var absent = Services(new()
        {
            ["Fleet:Mdm:Identity:Issuer:CertificateFile"] = TestPki.CaCertificateFile,
            ["Fleet:Mdm:Identity:Issuer:KeyFile"] = missing,
            ["Fleet:Mdm:Identity:Issuer:Validity"] = "00:00:00",
        });

        var halfError = Assert.Throws<OptionsValidationException>(() => half.GetRequiredService<IOptions<IssuerOptions>>().Value);
        var absentError = Assert.Throws<OptionsValidationException>(() => absent.GetRequiredService<IOptions<IssuerOptions>>().Value);

        Assert.Equal(
            ["Fleet:Mdm:Identity:Issuer:CertificateFile and Fleet:Mdm:Identity:Issuer:KeyFile must be set together (only CertificateFile is)."],
            halfError.Failures);
        Assert.Equal(
            [
                $"Fleet:Mdm:Identity:Issuer:KeyFile names a file that does not exist ('{missing}').",
                "Fleet:Mdm:Identity:Issuer:Validity must be positive (was 00:00:00).",
            ],
            absentError.Failures);
    }

    [Fact]
    public void IssuerOptions_KeyOfAnotherCertificate_ALeafAsCa_OrAValidityInsideTheWindow_FailNamingTheKey()
    {
        var leafFolder = Directory.CreateTempSubdirectory("fleet-leaf-").FullName;
        using var leaf = TestPki.Identity("4C4C4544-0042-3610-8052-B4C04F4E4E31");
        File.WriteAllText(Path.Combine(leafFolder, "leaf.pem"), leaf.ExportCertificatePem());
        File.WriteAllText(Path.Combine(leafFolder, "leaf.key"), leaf.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(Path.Combine(leafFolder, "other.key"), TestPki.OtherCa.Key.ExportPkcs8PrivateKeyPem());
        using var mismatched = Services(new()
        {
            ["Fleet:Mdm:Identity:Issuer:CertificateFile"] = TestPki.CaCertificateFile,
            ["Fleet:Mdm:Identity:Issuer:KeyFile"] = Path.Combine(leafFolder, "other.key"),
        });
        using var notACa = Services(new()
        {
            ["Fleet:Mdm:Identity:Issuer:CertificateFile"] = Path.Combine(leafFolder, "leaf.pem"),
            ["Fleet:Mdm:Identity:Issuer:KeyFile"] = Path.Combine(leafFolder, "leaf.key"),
        });
        using var shortLived = Services(new()
        {
            ["Fleet:Mdm:Identity:Issuer:CertificateFile"] = TestPki.CaCertificateFile,
            ["Fleet:Mdm:Identity:Issuer:KeyFile"] = TestPki.CaKeyFile,
            ["Fleet:Mdm:Identity:Issuer:Validity"] = "00:05:00",
        });

        var mismatchedError = Assert.Throws<OptionsValidationException>(() => mismatched.GetRequiredService<IOptions<IssuerOptions>>().Value);
        var notACaError = Assert.Throws<OptionsValidationException>(() => notACa.GetRequiredService<IOptions<IssuerOptions>>().Value);
        var shortLivedError = Assert.Throws<OptionsValidationException>(() => shortLived.GetRequiredService<IOptions<IssuerOptions>>().Value);

        Assert.StartsWith(
            "Fleet:Mdm:Identity:Issuer:CertificateFile and Fleet:Mdm:Identity:Issuer:KeyFile are not a certificate and its private key: ",
            Assert.Single(mismatchedError.Failures));
        Assert.Equal(
            [$"Fleet:Mdm:Identity:Issuer:CertificateFile ('{Path.Combine(leafFolder, "leaf.pem")}') is not a CA certificate (basic constraints CA:TRUE)."],
            notACaError.Failures);
        Assert.Equal(
            ["Fleet:Mdm:Identity:Issuer:Validity (00:05:00) must be longer than Fleet:Mdm:Identity:Renewal:Window (30.00:00:00): " +
                "every renewed identity would be due for renewal again at once."],
            shortLivedError.Failures);
    }

    [Fact]
    public async Task Issuer_MakesAClientIdentityForTheUdidThatChainsToTheCa()
    {
        using var services = Services(new()
        {
            ["Fleet:Mdm:Identity:Issuer:CertificateFile"] = TestPki.CaCertificateFile,
            ["Fleet:Mdm:Identity:Issuer:KeyFile"] = TestPki.CaKeyFile,
            ["Fleet:Mdm:Identity:Issuer:Validity"] = "90.00:00:00",
        });
        var before = DateTimeOffset.UtcNow;

        var issued = await services.GetRequiredService<IIdentityIssuer>().IssueAsync("4C4C4544-0042-3610-8052-B4C04F4E4E31", TestContext.Current.CancellationToken);
        using var identity = X509CertificateLoader.LoadPkcs12(issued.Pkcs12, issued.Password);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(TestPki.DeviceCa.Certificate);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        var eku = identity.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single();

        Assert.True(identity.HasPrivateKey);
        Assert.Equal("CN=4C4C4544-0042-3610-8052-B4C04F4E4E31", identity.Subject);
        Assert.True(chain.Build(identity), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        Assert.Equal(["1.3.6.1.5.5.7.3.2"], eku.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value));
        Assert.Equal(DeviceCertificate.Of(identity, IdentityPresentation.Tls), issued.Certificate);
        var validity = issued.Certificate.NotAfter - before;
        Assert.True(validity > TimeSpan.FromDays(90) - TimeSpan.FromMinutes(1) && validity <= TimeSpan.FromDays(90) + TimeSpan.FromSeconds(5),
            $"issued for {validity}, expected 90 days");
    }

    [Fact]
    public async Task Issuer_WithACaMadeAMomentAgo_StartsTheIdentityWhenTheCaStarts()
    {
        // tools/start makes the development CA valid from the moment it is made; the issuer back-dates
        // identities for slow device clocks, but never before its CA.
        var caStart = DateTimeOffset.UtcNow.AddSeconds(-30);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=A CA made a moment ago", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var ca = caRequest.CreateSelfSigned(caStart, caStart.AddYears(1));
        var folder = Directory.CreateTempSubdirectory("fleet-fresh-ca-").FullName;
        File.WriteAllText(Path.Combine(folder, "ca.pem"), ca.ExportCertificatePem());
        File.WriteAllText(Path.Combine(folder, "ca.key"), caKey.ExportPkcs8PrivateKeyPem());
        using var services = Services(new()
        {
            ["Fleet:Mdm:Identity:Issuer:CertificateFile"] = Path.Combine(folder, "ca.pem"),
            ["Fleet:Mdm:Identity:Issuer:KeyFile"] = Path.Combine(folder, "ca.key"),
        });

        var issued = await services.GetRequiredService<IIdentityIssuer>().IssueAsync("4C4C4544-0042-3610-8052-B4C04F4E4E31", TestContext.Current.CancellationToken);

        Assert.Equal(new DateTimeOffset(ca.NotBefore.ToUniversalTime()), issued.Certificate.NotBefore);
    }

    [Fact]
    public void Index_FiltersByCertificateExpiry_AndCountsExpiredAndRenewingHosts()
    {
        var valid = Entry("A", s_at.AddDays(200), IdentityState.Valid);
        var renewing = Entry("B", s_at.AddDays(20), IdentityState.Renewing);
        var expired = Entry("C", s_at.AddDays(-1), IdentityState.Expired);
        var noCertificate = Entry("D", null, null);
        HostIndexEntry[] entries = [valid, renewing, expired, noCertificate];
        var within30Days = new HostQuery(null, null, null, 100, CertificateExpiresBefore: s_at.AddDays(30));

        var matched = entries.Where(e => HostIndexRules.Matches(e, within30Days)).ToArray();
        var all = entries.Where(e => HostIndexRules.Matches(e, within30Days with { CertificateExpiresBefore = null })).ToArray();
        var exactlyAtNotAfter = HostIndexRules.Matches(renewing, within30Days with { CertificateExpiresBefore = s_at.AddDays(20) });
        var counts = HostIndexRules.Count(entries);

        Assert.Equal([renewing, expired], matched);
        Assert.Equal(entries, all);
        Assert.False(exactlyAtNotAfter);
        Assert.Equal((4, 1, 1), (counts.Total, counts.CertificatesExpired, counts.CertificatesRenewing));
    }

    [Fact]
    public async Task IndexStore_KeepsTheCertificateNotAfterAndIdentityState()
    {
        var store = new HostIndexStore(
            new Azure.Data.Tables.TableServiceClient(TestStorage.ConnectionString),
            Options.Create(new Orleans.Configuration.ClusterOptions { ServiceId = $"idx-{Guid.NewGuid():N}"[..16] }));
        HostIndexEntry[] entries = [Entry("A", s_at.AddDays(20), IdentityState.Renewing), Entry("B", null, null)];

        await store.SaveAsync(7, entries, TestContext.Current.CancellationToken);
        var loaded = await store.LoadAsync(7, TestContext.Current.CancellationToken);

        Assert.Equal(entries, loaded.OrderBy(e => e.HostId, StringComparer.Ordinal));
    }

    [Fact]
    public void IdentityExpired_FailsTheMdmPartOfARefetchAtOnce_AndPendingOrVerifyingInstalls()
    {
        var reason = new Reason(ReasonCodes.IdentityExpired, "identity certificate expired at 2026-12-01T09:00:00Z");
        var policy = new RefetchPolicy("macos14", TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(1), 3, TimeSpan.Zero, TimeSpan.Zero);
        var refetch = RefetchMachine.Apply(null, new RefetchEvent.Requested("11111111-1111-4111-8111-111111111111"), policy, s_at).Refetch!;
        var profiles = new ProfileOptions();
        ProfileRecord[] records = [Profile("pending", ProfileStatus.Pending), Profile("verifying", ProfileStatus.Verifying), Profile("verified", ProfileStatus.Verified)];

        var step = RefetchMachine.Apply(refetch, new RefetchEvent.IdentityExpired(reason), policy, s_at.AddSeconds(1));
        var profileStep = ProfileMachine.Apply(records, new ProfileEvent.IdentityExpired(reason), profiles, s_at.AddSeconds(1));

        Assert.Equal(RefetchStatus.Failed, step.Refetch!.Status);
        Assert.Equal(reason, step.Refetch.Reason);
        Assert.Equal(RefetchStatus.Failed, step.Refetch.Mdm!.Status);
        Assert.True(step.Mdm.HasFlag(MdmEffects.DropCommands));
        Assert.Equal(
            [ProfileStatus.Failed, ProfileStatus.Failed, ProfileStatus.Verified],
            records.Select(r => profileStep.Records.Single(n => n.Identifier == r.Identifier).Status));
        Assert.Equal(
            $"{reason.Message}; the device cannot receive or confirm MDM commands until it enrolls again",
            profileStep.Records.Single(r => r.Identifier == "pending").Detail);
        Assert.Equal(["cmd-pending"], profileStep.Drop);
    }

    private static HostIndexEntry Entry(string hostId, DateTimeOffset? notAfter, IdentityState? state) =>
        new(hostId, 1, RefetchStatus.None, "darwin", "15.1", null, null, s_at, s_at, null, CertificateNotAfter: notAfter, Identity: state);

    private static ProfileRecord Profile(string identifier, ProfileStatus status) => new()
    {
        Identifier = identifier,
        Checksum = "sha",
        UploadedAt = s_at,
        Operation = ProfileOperation.Install,
        Status = status,
        Attempt = 1,
        CommandUuid = status == ProfileStatus.Pending ? $"cmd-{identifier}" : null,
        UpdatedAt = s_at,
    };
}
