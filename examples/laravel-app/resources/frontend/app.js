/*
 * The admin UI: organisations, their users and the account-analysis results,
 * over the app's JSON API. Plain AngularJS 1.8 with no router: the view follows
 * the location hash (#!/organisations, #!/organisations/42, #!/analyses).
 */
(() => {
  const PLANS = ['free', 'team', 'business', 'enterprise'];
  const ROLES = ['member', 'admin', 'owner'];

  function AdminController($http, $location, $scope, $interval) {
    const vm = this;
    vm.plans = PLANS;
    vm.roles = ROLES;
    vm.filters = { search: '', plan: '', page: 1 };
    vm.newOrganisation = { name: '', plan: 'free' };
    vm.newUser = { name: '', email: '', role: 'member' };
    vm.latestPageNumber = 1;

    function fail(response) {
      const message = response?.data?.message;
      vm.error = message ? message : `Request failed (${response?.status ?? 'no response'})`;
    }

    function loadSummary() {
      return $http.get('/api/summary').then((response) => {
        vm.summary = response.data;
      }, fail);
    }

    function loadOrganisations() {
      const params = { page: vm.filters.page, per_page: 25 };
      if (vm.filters.search) params.search = vm.filters.search;
      if (vm.filters.plan) params.plan = vm.filters.plan;
      return $http.get('/api/organisations', { params }).then((response) => {
        vm.organisations = response.data;
      }, fail);
    }

    function loadOrganisation(id) {
      vm.organisation = null;
      return $http
        .get(`/api/organisations/${id}`)
        .then((response) => {
          vm.organisation = response.data.data;
          return $http.get(`/api/organisations/${id}/users`, { params: { per_page: 100 } });
        })
        .then((response) => {
          if (response) vm.users = response.data;
        }, fail);
    }

    function loadAnalyses() {
      $http.get('/api/analysis-runs', { params: { per_page: 10 } }).then((response) => {
        vm.runs = response.data.data;
      }, fail);
      $http
        .get('/api/analyses/latest', { params: { page: vm.latestPageNumber, per_page: 25 } })
        .then((response) => {
          vm.latest = response.data;
        }, fail);
    }

    function route() {
      vm.error = null;
      vm.formErrors = null;
      vm.notice = null;
      const path = $location.path();
      const organisation = /^\/organisations\/(\d+)$/.exec(path);
      if (organisation) {
        vm.view = 'organisation';
        loadOrganisation(organisation[1]);
      } else if (path === '/analyses') {
        vm.view = 'analyses';
        loadAnalyses();
      } else {
        vm.view = 'organisations';
        loadOrganisations();
      }
    }

    vm.search = () => {
      vm.filters.page = 1;
      loadOrganisations();
    };

    vm.page = (step) => {
      vm.filters.page += step;
      loadOrganisations();
    };

    vm.latestPage = (step) => {
      vm.latestPageNumber += step;
      loadAnalyses();
    };

    vm.createOrganisation = () => {
      vm.formErrors = null;
      $http.post('/api/organisations', vm.newOrganisation).then(
        (response) => {
          vm.newOrganisation = { name: '', plan: 'free' };
          loadSummary();
          $location.path(`/organisations/${response.data.data.id}`);
        },
        (response) => {
          if (response.status === 422) vm.formErrors = response.data.errors;
          else fail(response);
        },
      );
    };

    vm.createUser = () => {
      vm.formErrors = null;
      $http.post(`/api/organisations/${vm.organisation.id}/users`, vm.newUser).then(
        () => {
          vm.newUser = { name: '', email: '', role: 'member' };
          loadOrganisation(vm.organisation.id);
          loadSummary();
        },
        (response) => {
          if (response.status === 422) vm.formErrors = response.data.errors;
          else fail(response);
        },
      );
    };

    vm.analyse = (organisation) => {
      $http.post(`/api/organisations/${organisation.id}/analyses`).then((response) => {
        vm.notice = `${response.data.message}; refresh in a moment to see the result.`;
      }, fail);
    };

    $scope.$on('$locationChangeSuccess', route);
    const refresh = $interval(loadSummary, 10000);
    $scope.$on('$destroy', () => $interval.cancel(refresh));
    loadSummary();
  }
  AdminController.$inject = ['$http', '$location', '$scope', '$interval'];

  angular
    .module('adminApp', [])
    .config([
      '$locationProvider',
      ($locationProvider) => {
        $locationProvider.hashPrefix('!');
      },
    ])
    .controller('AdminController', AdminController);
})();
