package route

import "testing"

// Real User-Agent strings, as the browsers and crawlers send them.
const (
	uaChromeWin     = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	uaChromeMac     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	uaChromeAndroid = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"
	uaChromeTablet  = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	uaChromeIOS     = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1"
	uaFirefoxLinux  = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
	uaFirefoxWin    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
	uaFirefoxAnd    = "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0"
	uaFirefoxIOS    = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15"
	uaSafariMac     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"
	uaSafariIPhone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
	uaSafariIPad12  = "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1 Mobile/15E148 Safari/604.1"
	uaEdgeWin       = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0"
	uaEdgeLegacy    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19582"
	uaEdgeAndroid   = "Mozilla/5.0 (Linux; Android 10; HD1913) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.193 Mobile Safari/537.36 EdgA/120.0.2210.84"
	uaEdgeIOS       = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 EdgiOS/120.2210.150 Mobile/15E148 Safari/605.1.15"
	uaOpera         = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0"
	uaOperaPresto   = "Opera/9.80 (Windows NT 6.1; WOW64) Presto/2.12.388 Version/12.18"
	uaOperaMini     = "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54"
	uaIE11          = "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko"
	uaIE8           = "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)"
	uaSamsung       = "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36"
	uaYandex        = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 YaBrowser/23.11.0.0 Safari/537.36"
	uaAndroidStock  = "Mozilla/5.0 (Linux; U; Android 4.0.3; ko-kr; LG-L160L Build/IML74K) AppleWebkit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30"
	uaCubot         = "Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"
	uaGooglebot     = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	uaGooglebotMob  = "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	uaBingbot       = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
	uaSlurp         = "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)"
	uaBaidu         = "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)"
	uaFacebook      = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
	uaSlack         = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
	uaTwitter       = "Twitterbot/1.0"
	uaHeadless      = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"
)

func TestClassifyUserAgent(t *testing.T) {
	tests := []struct {
		ua   string
		want UAClass
	}{
		{uaChromeWin, UAClass{Family: FamilyChrome}},
		{uaChromeMac, UAClass{Family: FamilyChrome}},
		{uaChromeAndroid, UAClass{Family: FamilyChrome, Mobile: true}},
		{uaChromeTablet, UAClass{Family: FamilyChrome}}, // tablets omit "Mobile"
		{uaChromeIOS, UAClass{Family: FamilyChrome, Mobile: true}},
		{uaFirefoxLinux, UAClass{Family: FamilyFirefox}},
		{uaFirefoxWin, UAClass{Family: FamilyFirefox}},
		{uaFirefoxAnd, UAClass{Family: FamilyFirefox, Mobile: true}},
		{uaFirefoxIOS, UAClass{Family: FamilyFirefox, Mobile: true}},
		{uaSafariMac, UAClass{Family: FamilySafari}},
		{uaSafariIPhone, UAClass{Family: FamilySafari, Mobile: true}},
		{uaSafariIPad12, UAClass{Family: FamilySafari, Mobile: true}}, // "Mobile/15E148"
		{uaEdgeWin, UAClass{Family: FamilyEdge}},
		{uaEdgeLegacy, UAClass{Family: FamilyEdge}},
		{uaEdgeAndroid, UAClass{Family: FamilyEdge, Mobile: true}},
		{uaEdgeIOS, UAClass{Family: FamilyEdge, Mobile: true}},
		{uaOpera, UAClass{Family: FamilyOpera}},
		{uaOperaPresto, UAClass{Family: FamilyOpera}},
		{uaOperaMini, UAClass{Family: FamilyOpera, Mobile: true}},
		{uaIE11, UAClass{Family: FamilyIE}},
		{uaIE8, UAClass{Family: FamilyIE}},
		{uaSamsung, UAClass{Family: FamilyOther, Mobile: true}},
		{uaYandex, UAClass{Family: FamilyOther}},
		{uaAndroidStock, UAClass{Mobile: true}},
		{uaCubot, UAClass{Family: FamilyChrome, Mobile: true}},
		{uaGooglebot, UAClass{Bot: true}},
		{uaGooglebotMob, UAClass{Family: FamilyChrome, Mobile: true, Bot: true}},
		{uaBingbot, UAClass{Bot: true}},
		{uaSlurp, UAClass{Bot: true}},
		{uaBaidu, UAClass{Bot: true}},
		{uaFacebook, UAClass{Bot: true}},
		{uaSlack, UAClass{Bot: true}},
		{uaTwitter, UAClass{Bot: true}},
		{uaHeadless, UAClass{Family: FamilyChrome, Bot: true}},
		{"curl/8.4.0", UAClass{Bot: true}},
		{"Wget/1.21.3", UAClass{Bot: true}},
		{"python-requests/2.31.0", UAClass{Bot: true}},
		{"Go-http-client/1.1", UAClass{Bot: true}},
		{"", UAClass{}},
	}
	for _, tt := range tests {
		if got := ClassifyUserAgent(tt.ua); got != tt.want {
			t.Errorf("ClassifyUserAgent(%q) = %+v, want %+v", tt.ua, got, tt.want)
		}
	}
}
